"""Scenario evaluation: adapted predictions -> metrics and result files.

Predictions are computed once per scenario, clipped to the rating range, and
written to predictions_<scenario>.csv; metrics are computed from exactly
those numbers, so anyone can recompute results.json from the CSVs.
"""

import csv
import json
import os

from absl import logging
import jax
import numpy as np

from metarec_jax import floors, metrics, writers
from metarec_jax.data import batching, scenarios
from metarec_jax.data.tasks import TaskSet


def predict_tasks(predict_fn, params, tables, tasks: TaskSet, hparams,
                  batch_size: int, buckets, name: str = "") -> np.ndarray:
  """Adapted query predictions [N, Q] in task order.

  With a name, logs progress with an ETA (evaluation of a large scenario
  on a CPU takes a while).
  """
  out = np.zeros(tasks.query_items.shape, np.float32)
  progress, done = writers.Progress(len(tasks)), 0
  for idx, batch in batching.iterate_batches(tasks, batch_size, buckets):
    pred = jax.device_get(predict_fn(params, tables, batch, hparams))
    out[idx] = pred[:len(idx)]
    done += len(idx)
    if name:
      logging.info("evaluating %s: %s tasks", name, progress(done))
  return out


def clip(pred: np.ndarray, rating_range) -> np.ndarray:
  return np.clip(pred, rating_range[0], rating_range[1])


def floor_metrics(prep, tasks: TaskSet, seed: int) -> dict:
  out = {}
  for name in floors.FLOORS:
    pred = clip(floors.predict(name, prep.floor_stats, tasks, seed),
                prep.rating_range)
    out[name] = metrics.compute_metrics(tasks.query_ratings, pred,
                                        random_ranking=(name == "random"))
  return out


def write_predictions(path: str, prep, tasks: TaskSet, pred: np.ndarray):
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["user_id", "item_id", "rating", "prediction"])
    users = prep.users.ids[tasks.users]
    items = prep.items.ids[tasks.query_items]
    for u, its, ys, ps in zip(users, items, tasks.query_ratings, pred):
      for i, y, p in zip(its, ys, ps):
        w.writerow([int(u), int(i), f"{y:g}", f"{p:.6f}"])
  os.replace(tmp, path)


def round_floats(tree, digits: int = 6):
  """Rounds floats so results.json is stable across platforms' last bits."""
  if isinstance(tree, dict):
    return {k: round_floats(v, digits) for k, v in tree.items()}
  if isinstance(tree, float):
    return round(tree, digits)
  return tree


def write_text(path: str, text: str) -> None:
  """Writes through a temporary file: a crash never leaves half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def write_json(path: str, obj) -> None:
  write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def split_manifest(prep) -> dict:
  s = prep.split
  ids = lambda a: [int(x) for x in np.sort(a)]
  return {
      "existing_users": ids(s.existing_users),
      "new_users": ids(s.new_users),
      "validation_users": ids(s.validation_users),
      "existing_items": ids(s.existing_items),
      "new_items": ids(s.new_items),
      "tasks": {name: [int(u) for u in prep.users.ids[prep.tasks[name].users]]
                for name in ("train", "validation") + scenarios.SCENARIOS},
  }


def evaluate_scenarios(workdir: str, prep, predict_fn, params, hparams,
                       config) -> dict:
  """Touches each test scenario once; writes CSVs; returns results dict."""
  results = {"scenarios": {}, "floors": {f: {} for f in floors.FLOORS}}
  tables = prep.tables
  for name in scenarios.SCENARIOS:
    tasks = prep.tasks[name]
    pred = clip(predict_tasks(predict_fn, params, tables, tasks, hparams,
                              config.eval_batch_size, config.data.buckets,
                              name),
                prep.rating_range)
    write_predictions(os.path.join(workdir, f"predictions_{name}.csv"), prep,
                      tasks, pred)
    # Metrics from the rounded numbers the CSV holds.
    results["scenarios"][name] = metrics.compute_metrics(
        tasks.query_ratings, np.round(pred.astype(np.float64), 6))
    for floor, m in floor_metrics(prep, tasks, config.seed).items():
      results["floors"][floor][name] = m
  return results
