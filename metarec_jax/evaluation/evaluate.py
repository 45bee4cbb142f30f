"""Scenario evaluation: adapted predictions -> metrics and a run's files.

Each test scenario is read once, after training. Predictions are clipped to
the rating range and written to predictions_<scenario>.csv; metrics are
computed from exactly those numbers, so anyone can recompute results.json
from the CSVs.
"""

import csv
import os
import time

import numpy as np

from metarec_jax.core import hosts, io
from metarec_jax.data import pipeline
from metarec_jax.data.tasks import TaskSet
from metarec_jax.evaluation import catalogue, floors, metrics, predict

# 4 on a 1..5 scale; results.json files of runs older than the config field
# lack it.
DEFAULT_RELEVANCE = 4.0


def relevance_threshold(config) -> float:
  return float(config.data.get("relevance_threshold", DEFAULT_RELEVANCE))


def floor_metrics(prep, tasks: TaskSet, seed: int,
                  threshold: float | None = None) -> dict:
  out = {}
  for name in floors.names(prep.task_axis):
    pred = predict.clip(floors.predict(name, prep.floor_stats, tasks, seed,
                                       prep.task_axis), prep.rating_range)
    out[name] = metrics.compute_metrics(tasks.query_ratings, pred,
                                        random_ranking=(name == "random"),
                                        threshold=threshold)
  return out


def catalogue_metrics(prep, method, params, hparams, config) -> dict:
  """Catalogue ranking in every test scenario, for the method and the
  floors: {"scenarios": {S: metrics}, "floors": {F: {S: metrics}},
  "catalogue_s": {S: seconds, "total": seconds}}."""
  threshold = relevance_threshold(config)
  out = {"scenarios": {}, "floors": {f: {} for f in floors.FLOORS},
         "catalogue_s": {}}
  t0 = time.time()
  for name in prep.scenario_names:
    t = time.time()
    tasks = prep.test_tasks(name)
    out["scenarios"][name] = catalogue.method_metrics(
        method, params, prep, tasks, name, hparams, config.data.buckets,
        threshold)
    for floor, m in catalogue.floor_metrics(prep, tasks, name, threshold,
                                            config.seed).items():
      out["floors"][floor][name] = m
    out["catalogue_s"][name] = round(time.time() - t, 1)
  out["catalogue_s"]["total"] = round(time.time() - t0, 1)
  return out


def write_predictions(path: str, prep, tasks: TaskSet, pred: np.ndarray):
  if not hosts.is_writer():
    return
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    # The task's id first: a user, or in item tasks the item.
    w.writerow(["user_id", "item_id", "rating", "prediction"]
               if prep.task_axis == "user" else
               ["item_id", "user_id", "rating", "prediction"])
    users = prep.users.labels(tasks.users)
    items = np.array(prep.items.labels(tasks.query_items), object).reshape(
        tasks.query_items.shape)
    for u, its, ys, ps in zip(users, items, tasks.query_ratings, pred):
      for i, y, p in zip(its, ys, ps):
        w.writerow([u, i, f"{y:g}", f"{p:.6f}"])
  os.replace(tmp, path)


def split_manifest(prep) -> dict:
  s = prep.split
  user_ids = lambda a: prep.users.codec.decode(np.sort(a))
  item_ids = lambda a: prep.items.codec.decode(np.sort(a))
  users = lambda t: prep.users.labels(t.users)
  # In item tasks (data/item_world.py) "users" are the items: the roles
  # are swapped throughout, as task_axis says.
  axis = {} if prep.task_axis == "user" else {"task_axis": prep.task_axis}
  return {
      **axis,
      "existing_users": user_ids(s.existing_users),
      "new_users": user_ids(s.new_users),
      "validation_users": user_ids(s.validation_users),
      "existing_items": item_ids(s.existing_items),
      "new_items": item_ids(s.new_items),
      "tasks": {**{name: users(prep.tasks[name])
                   for name in ("train", "validation")},
                **{name: users(prep.test_tasks(name))
                   for name in prep.scenario_names}},
  }


def evaluate_scenarios(run_dir: str, prep, method, params, hparams,
                       config) -> dict:
  """Touches each test scenario once; writes the CSVs; returns
  {"scenarios": {S: metrics}, "floors": {F: {S: metrics}}, "catalogue_s":
  {S: seconds, "total": seconds}, "relevance_threshold": t}."""
  threshold = relevance_threshold(config)
  results = {"scenarios": {},
             "floors": {f: {} for f in floors.names(prep.task_axis)}}
  for name in prep.scenario_names:
    tasks = prep.test_tasks(name)
    pred = predict.clip(predict.predict_tasks(
        method, params, prep.tables, tasks, hparams, config.eval_batch_size,
        config.data.buckets, name), prep.rating_range)
    write_predictions(os.path.join(run_dir, f"predictions_{name}.csv"), prep,
                      tasks, pred)
    # Metrics from the rounded numbers the CSV holds.
    results["scenarios"][name] = metrics.compute_metrics(
        tasks.query_ratings, np.round(pred.astype(np.float64), 6),
        threshold=threshold)
    for floor, m in floor_metrics(prep, tasks, config.seed,
                                  threshold).items():
      results["floors"][floor][name] = m
  if prep.left_out:
    results["left_out"] = prep.left_out
  # Catalogue ranking ranks items for a user: the user world's question.
  if config.get("catalogue", True) and prep.task_axis == "user":
    merge(results, catalogue_metrics(prep, method, params, hparams, config))
  results["relevance_threshold"] = threshold
  return results


def merge(results: dict, extra: dict) -> None:
  """Adds extra's scenario and floor metrics (catalogue_metrics' dict) into
  results' cells, and its other keys beside them."""
  for name, m in extra["scenarios"].items():
    results["scenarios"][name].update(m)
  for floor, cells in extra["floors"].items():
    for name, m in cells.items():
      results["floors"][floor][name].update(m)
  results.update({k: v for k, v in extra.items()
                  if k not in ("scenarios", "floors")})


def write_run(run_dir: str, prep, results: dict, config, selection) -> None:
  """results.json (with the run's config and selection) and split.json."""
  saved = config.to_dict()
  # The path the data came from, also when the environment named it: the
  # run folder then serves without that environment.
  saved["data"]["path"] = pipeline.data_path(config.data)
  # Seconds are not results: a rerun must write the same bytes (the
  # catalogue's timing goes to timing.json, train/experiment.py).
  results = {**{k: v for k, v in results.items() if k != "catalogue_s"},
             "seed": config.seed, "config": saved, "selection": selection}
  io.write_json(os.path.join(run_dir, "results.json"),
                io.round_floats(results))
  io.write_json(os.path.join(run_dir, "split.json"), split_manifest(prep))
