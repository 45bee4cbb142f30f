"""Finished runs upgraded in place to the current protocol's metrics.

For each run folder (results.json, predictions_<scenario>.csv, params/),
without retraining anything:
  - the query ranking metrics (nDCG, precision, recall, each with its
    pessimistic bound), corr and the counts are recomputed from the
    predictions CSVs, after checking that the CSV gives the stored MAE, RMSE
    and nDCG (the file belongs to the run) and holds the query ratings of
    the run's tasks; a run scored before ties counted at their expectation
    stored the pessimistic nDCG, and is checked against that;
  - catalogue ranking is computed from the run's saved parameters, through
    the function a fresh run's evaluation uses (evaluate.catalogue_metrics);
    without it, catalogue values of an older protocol are removed rather
    than left beside the new metrics;
  - the floors get the same metrics, computed once per data and seed (every
    row of a seed shares them, as a table requires), after checking that
    their stored values are reproduced.
results.json is rewritten atomically; its other contents are kept, except a
catalogue_s older upgrades stored there (seconds are not results: the
catalogue's seconds are returned and logged).
"""

import json
import pathlib
import time

from absl import logging
import ml_collections
import numpy as np

from metarec_jax.core import io
from metarec_jax.core.errors import DataError
from metarec_jax.data import pipeline, scenarios
from metarec_jax.evaluation import evaluate, metrics, predictions_csv, ranking
from metarec_jax.meta import base, registry
from metarec_jax.train import checkpoints

# The stored metrics a recomputation must give back; results.json rounds
# to 6 decimals.
CHECKED = metrics.METRIC_KEYS
TOLERANCE = 2e-6
NEW_KEYS = (metrics.NDCG_KEYS + metrics.PR_KEYS + metrics.PESSIMISTIC_KEYS
            + (metrics.CORR,) + metrics.COUNTS)


def find_runs(root) -> list[pathlib.Path]:
  """Run folders under root: root itself (a scripts/main.py workdir) or a
  table's runs/<row>/seed<s>/."""
  root = pathlib.Path(root)
  if (root / "results.json").is_file():
    return [root]
  runs = sorted(p.parent for p in root.glob("runs/*/seed*/results.json"))
  if not runs:
    raise DataError(f"{root}: no results.json, nor runs/<row>/seed<s>/"
                    "results.json")
  return runs


def _check(where: str, stored: dict, fresh: dict) -> None:
  # Runs scored before the pessimistic bound had its own key stored the
  # pessimistic nDCG under the plain key.
  old = metrics.NDCG_KEYS[0] + metrics.PESSIMISTIC not in stored
  for key in CHECKED:
    want = (fresh[key + metrics.PESSIMISTIC]
            if old and key in metrics.NDCG_KEYS else fresh[key])
    if abs(stored[key] - want) > TOLERANCE:
      raise DataError(f"{where}: {key} recomputes to {want:.6f}, "
                      f"stored {stored[key]:.6f}: not this run's data")


def csv_metrics(run_dir, results: dict, prep, threshold: float) -> dict:
  """{S: the new query metrics} from the run's predictions CSVs."""
  out = {}
  for s in prep.scenario_names:
    path = pathlib.Path(run_dir) / f"predictions_{s}.csv"
    tasks = prep.test_tasks(s)
    if not len(tasks):  # Its CSV holds the header only.
      y = p = tasks.query_ratings.astype(np.float64)
    else:
      y, p = predictions_csv.read_predictions(path)
    if not np.array_equal(y, tasks.query_ratings):
      raise DataError(f"{path}: its ratings are not the query ratings of "
                      "the run's tasks (data or seed differ)")
    fresh = metrics.compute_metrics(y, p, threshold=threshold)
    _check(str(path), results["scenarios"][s], fresh)
    out[s] = {k: fresh[k] for k in NEW_KEYS}
  return out


def floor_metrics(prep, seed: int, threshold: float) -> dict:
  """{F: {S: every query metric}} of the floors, recomputed."""
  out = {}
  for s in prep.scenario_names:
    for f, m in evaluate.floor_metrics(prep, prep.test_tasks(s), seed,
                                       threshold).items():
      out.setdefault(f, {})[s] = m
  return out


def _has_catalogue(results: dict) -> bool:
  return all(k in results["scenarios"][s] for s in scenarios.SCENARIOS
             for k in ranking.KEYS)


def _drop_catalogue(results: dict) -> None:
  """Removes every catalogue value (an older protocol's, in every cell)."""
  for cells in [results["scenarios"]] + list(results["floors"].values()):
    for m in cells.values():
      for key in ranking.KEYS:
        m.pop(key, None)


def upgrade_run(run_dir, prep, catalogue: bool = True, force: bool = False,
                cache: dict | None = None) -> dict:
  """Adds the new metrics to one run's results.json; returns {"run",
  "catalogue_s"} (None when catalogue ranking was not computed).

  cache: a dict shared by the runs of one prep, so that the floors'
  query metrics are computed once for them.
  """
  path = pathlib.Path(run_dir) / "results.json"
  results = io.read_json(str(path), "a run's results")
  config = ml_collections.ConfigDict(results["config"])
  threshold = evaluate.relevance_threshold(config)
  cache = {} if cache is None else cache
  if "floors" not in cache:
    cache["floors"] = floor_metrics(prep, config.seed, threshold)
  new = {"scenarios": csv_metrics(run_dir, results, prep, threshold),
         "floors": {}}
  for f, cells in cache["floors"].items():
    for s, m in cells.items():
      _check(f"{path}: floors.{f}.{s}", results["floors"][f][s], m)
      new["floors"].setdefault(f, {})[s] = {k: m[k] for k in NEW_KEYS}
  evaluate.merge(results, new)
  results["relevance_threshold"] = threshold
  seconds = None
  if catalogue and (force or not _has_catalogue(results)):
    method = registry.build(config, prep)
    params = checkpoints.restore_for(str(run_dir), method, prep.tables)
    cat = evaluate.catalogue_metrics(prep, method, params,
                                     base.hparams(config), config)
    # Seconds are not results (evaluate.write_run): returned, not stored.
    seconds = cat.pop("catalogue_s")["total"]
    evaluate.merge(results, cat)
  elif not _has_catalogue(results):
    _drop_catalogue(results)
  results.pop("catalogue_s", None)
  io.write_json(str(path), io.round_floats(results))
  return {"run": str(run_dir), "catalogue_s": seconds}


def _data_key(run_dir) -> tuple:
  results = io.read_json(str(pathlib.Path(run_dir) / "results.json"))
  return (json.dumps(results["config"]["data"], sort_keys=True),
          int(results["config"]["seed"]))


def upgrade(root, catalogue: bool = True, force: bool = False,
            rows=None) -> list[dict]:
  """upgrade_run over every run under root (rows: only those row names),
  preparing each data config and seed once."""
  runs = [r for r in find_runs(root)
          if not rows or r.parent.name in rows]
  groups = {}
  for run in runs:
    groups.setdefault(_data_key(run), []).append(run)
  done = []
  for (data, seed), group in groups.items():
    t0 = time.time()
    prep = pipeline.prepare(ml_collections.ConfigDict(json.loads(data)), seed)
    logging.info("seed %d: data ready in %.1fs, %d runs", seed,
                 time.time() - t0, len(group))
    cache = {}
    for run in group:
      t = time.time()
      info = upgrade_run(run, prep, catalogue, force, cache)
      info["wall_s"] = round(time.time() - t, 1)
      logging.info("%s: upgraded in %.1fs (catalogue %s s)", run,
                   info["wall_s"], info["catalogue_s"])
      done.append(info)
  return done
