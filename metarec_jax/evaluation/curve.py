"""Adaptation curve: metrics against support size K (docs/protocol.md).

Training never sees the test scenarios, and k_shot only changes the test
scenarios' tasks, so the parameters selected for a table are evaluated
again on the same seed's split with the support cut to K ratings (users with
fewer than K + 10 dropped). Floors are computed on the same tasks. Every
support set then has exactly K ratings, so K is the one support bucket: one
small compile per (method, K) instead of padding K = 1 to 96.
"""

import numpy as np

from metarec_jax.data import pipeline
from metarec_jax.evaluation import evaluate, metrics, predict

# The floors drawn beside the methods, by task axis (item tasks: every
# floor; random for its nDCG, the expectation over random rankings).
CURVE_FLOORS = {"user": ("item_mean", "user_mean", "item_mean_user_bias"),
                "item": ("global_mean", "support_mean",
                         "support_mean_user_bias", "user_mean",
                         "user_mean_item_bias", "random")}
PLOT_METRICS = ("mae", "ndcg@3")


def _point(method, params, prep, hparams, batch_size: int, k: int) -> dict:
  """{scenario: {metric: value}} of one method at support size k."""
  out = {}
  for s in prep.scenario_names:
    tasks = prep.test_tasks(s)
    if not len(tasks):  # No user has K + 10 ratings here.
      out[s] = {x: np.nan for x in PLOT_METRICS}
      continue
    pred = predict.clip(predict.predict_tasks(
        method, params, prep.tables, tasks, hparams, batch_size, (k,)),
                        prep.rating_range)
    out[s] = metrics.compute_metrics(tasks.query_ratings, pred)
  return out


def _floor_point(prep, seed: int) -> dict:
  """{floor: {scenario: {metric: value}}} at the prep's support size."""
  names = CURVE_FLOORS[prep.task_axis]
  out = {f: {} for f in names}
  for s in prep.scenario_names:
    tasks = prep.test_tasks(s)
    fm = (evaluate.floor_metrics(prep, tasks, seed) if len(tasks) else
          {f: {x: np.nan for x in PLOT_METRICS} for f in names})
    for f in names:
      out[f][s] = fm[f]
  return out


def curve(rows: dict, seeds, preps: dict, ks, batch_size: int) -> dict:
  """rows: {name: (method, {seed: params}, {seed: hparams})}; preps: {seed:
  the table's prepared data}. Returns {"ks", "seeds", "methods": {M: {S:
  {metric: [mean over seeds per K]}}}, "floors": the same}."""
  first = preps[seeds[0]]
  floor_names = CURVE_FLOORS[first.task_axis]
  names, scenario_names = list(rows) + list(floor_names), first.scenario_names
  per = {m: {s: {x: [] for x in PLOT_METRICS} for s in scenario_names}
         for m in names}
  for k in ks:
    vals = {m: {s: {x: [] for x in PLOT_METRICS} for s in scenario_names}
            for m in names}
    for seed in seeds:
      prep = pipeline.with_k_shot(preps[seed], seed, k)
      points = {name: _point(method, params[seed], prep, hparams[seed],
                             batch_size, k)
                for name, (method, params, hparams) in rows.items()}
      points.update(_floor_point(prep, seed))
      for m in names:
        for s in scenario_names:
          for x in PLOT_METRICS:
            vals[m][s][x].append(points[m][s][x])
    for m in names:
      for s in scenario_names:
        for x in PLOT_METRICS:
          per[m][s][x].append(round(float(np.mean(vals[m][s][x])), 6))
  return {"ks": list(ks), "seeds": list(seeds),
          "methods": {m: per[m] for m in rows},
          "floors": {f: per[f] for f in floor_names}}
