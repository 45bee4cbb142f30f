"""scripts/add_metrics.py's upgrade of finished runs: precision/recall
recomputable from the predictions CSVs, an upgraded run equal to a fresh
one, and a CSV of other data refused."""

import json
import shutil

import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.data import scenarios
from metarec_jax.evaluation import floors, metrics, ranking
from metarec_jax.experiments import add_metrics
from metarec_jax.train import experiment
import csv_checks
from tiny_run import tiny_config, write_dataset

# What a run scored before precision, recall, corr and catalogue ranking
# lacks; it stored the pessimistic nDCG under the plain key.
NEW = (metrics.PR_KEYS + metrics.PESSIMISTIC_KEYS + ranking.KEYS
       + (metrics.CORR,) + metrics.COUNTS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A finished tiny run (its results.json as written by evaluation)."""
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder, num_steps=2, every=2)
  config.method, config.inner_steps, config.model.hidden = "melu_fo", 1, (8,)
  workdir = tmp_path_factory.mktemp("run")
  experiment.train_and_evaluate(config, str(workdir))
  return workdir


def test_precision_recall_recompute_from_the_csvs(run):
  saved = json.loads((run / "results.json").read_text())
  threshold = saved["config"]["data"]["relevance_threshold"]
  assert saved["relevance_threshold"] == threshold
  scored = [s for s in scenarios.SCENARIOS
            if saved["scenarios"][s]["n_tasks"]]
  assert scored
  for s in scored:
    for k in metrics.PR_KS:
      want = csv_checks.recompute(run / f"predictions_{s}.csv", threshold, k)
      for key, value in want.items():
        assert saved["scenarios"][s][key] == pytest.approx(value, abs=1e-6)
    for key in ranking.KEYS:
      assert 0 <= saved["scenarios"][s][key] <= 1
  # Its seconds are in timing.json: results.json is the same bytes on rerun.
  assert "catalogue_s" not in saved
  timing = json.loads((run / "timing.json").read_text())
  assert timing["catalogue_s"]["total"] >= 0


def _strip(results: dict) -> dict:
  """results.json as a run made before the new metrics left it."""
  out = json.loads(json.dumps(results))
  for cells in [out["scenarios"]] + list(out["floors"].values()):
    for m in cells.values():
      for key in metrics.NDCG_KEYS:
        m[key] = m[key + metrics.PESSIMISTIC]
      for key in NEW:
        m.pop(key)
  out.pop("relevance_threshold")
  out.pop("catalogue_s", None)  # main.py's runs keep it in timing.json.
  del out["config"]["data"]["relevance_threshold"]  # Older configs.
  return out


def test_an_upgraded_run_equals_a_fresh_one(run, tmp_path):
  old = tmp_path / "runs" / "melu_fo" / "seed0"
  shutil.copytree(run, old)
  fresh = json.loads((run / "results.json").read_text())
  (old / "results.json").write_text(json.dumps(_strip(fresh)))
  done = add_metrics.upgrade(tmp_path)
  assert [d["run"] for d in done] == [str(old)]
  up = json.loads((old / "results.json").read_text())
  for key in ("scenarios", "floors", "relevance_threshold"):
    # json.dumps: NaN (the tiny data's empty scenarios) equals NaN.
    assert json.dumps(up[key], sort_keys=True) == json.dumps(
        fresh[key], sort_keys=True), key
  assert set(up["floors"]) == set(floors.FLOORS)
  assert "catalogue_s" not in up  # Seconds are not results.
  # A second pass leaves catalogue ranking as it is.
  assert add_metrics.upgrade(tmp_path)[0]["catalogue_s"] is None


def test_an_older_protocols_catalogue_is_not_kept_beside_the_new(run,
                                                                 tmp_path):
  old = tmp_path / "r"
  shutil.copytree(run, old)
  fresh = json.loads((run / "results.json").read_text())
  stale = _strip(fresh)
  for cells in [stale["scenarios"]] + list(stale["floors"].values()):
    for m in cells.values():
      m.update({key: 0.5 for key in ranking.EXPECTED_KEYS})
  (old / "results.json").write_text(json.dumps(stale))
  add_metrics.upgrade(old, catalogue=False)
  up = json.loads((old / "results.json").read_text())
  for cells in [up["scenarios"]] + list(up["floors"].values()):
    for m in cells.values():
      assert not set(ranking.KEYS) & set(m)
  # The query metrics are the fresh run's: nDCG now at its expectation.
  s = next(s for s, m in fresh["scenarios"].items() if m["n_tasks"])
  for key in metrics.NDCG_KEYS + metrics.PESSIMISTIC_KEYS + (metrics.CORR,):
    assert json.dumps(up["scenarios"][s][key]) == json.dumps(
        fresh["scenarios"][s][key]), key


def test_a_csv_of_another_run_is_refused(run, tmp_path):
  shutil.copytree(run, tmp_path / "r")
  path = tmp_path / "r" / "predictions_user_cold.csv"
  lines = path.read_text().splitlines()
  user, item, rating, pred = lines[1].split(",")
  lines[1] = ",".join([user, item, rating, f"{float(pred) + 0.5:.6f}"])
  path.write_text("\n".join(lines) + "\n")
  with pytest.raises(DataError, match="mae recomputes to"):
    add_metrics.upgrade(tmp_path / "r", catalogue=False)
