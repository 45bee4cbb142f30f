"""Adaptation curve: metrics against support size K (PROTOCOL.md k_shot).

Training never sees the test scenarios, and k_shot only changes the test
scenarios' tasks, so the parameters selected for the table are evaluated
again on the same seed's split with the support cut to K ratings (users with
fewer than K + 10 dropped). Floors are computed on the same tasks. Every
support set then has exactly K ratings, so K is the one support bucket:
one small compile per (method, K) instead of padding K = 1 to 96.
Writes W/curve.json ({"ks", "methods": {M: {S: {metric: [mean per K]}}},
"floors": ..., "std": ...}) and W/curve.png.
"""

import os

import numpy as np

from metarec_jax import evaluate, metrics
from metarec_jax.data import pipeline, scenarios

CURVE_FLOORS = ("item_mean", "user_mean", "item_mean_user_bias")
PLOT_METRICS = ("mae", "ndcg@3")




def write_curve(workdir: str, config, trained: dict, seeds, preps) -> dict:
  """trained: {method: (coldstart.train_method output, method config)};
  preps: {seed: the table's prepared data}."""
  ks = list(config.curve_ks)
  per = {m: {s: {x: [] for x in PLOT_METRICS} for s in scenarios.SCENARIOS}
         for m in list(trained) + list(CURVE_FLOORS)}
  for k in ks:
    vals = {m: {s: {x: [] for x in PLOT_METRICS} for s in scenarios.SCENARIOS}
            for m in per}
    for seed in seeds:
      prep = pipeline.with_k_shot(preps[seed], seed, k)
      for name, (tr, c) in trained.items():
        for s in scenarios.SCENARIOS:
          tasks = prep.tasks[s]
          if not len(tasks):  # No user has K + 10 ratings here.
            for x in PLOT_METRICS:
              vals[name][s][x].append(np.nan)
            continue
          pred = evaluate.clip(evaluate.predict_tasks(
              tr["predict_fn"], tr["runs"][(seed, 0)][0], prep.tables, tasks,
              tr["hparams"], c.eval_batch_size, (k,)),
                               prep.rating_range)
          m = metrics.compute_metrics(tasks.query_ratings, pred)
          for x in PLOT_METRICS:
            vals[name][s][x].append(m[x])
      for s in scenarios.SCENARIOS:
        if not len(prep.tasks[s]):
          for f in CURVE_FLOORS:
            for x in PLOT_METRICS:
              vals[f][s][x].append(np.nan)
          continue
        fm = evaluate.floor_metrics(prep, prep.tasks[s], seed)
        for f in CURVE_FLOORS:
          for x in PLOT_METRICS:
            vals[f][s][x].append(fm[f][x])
    for m in per:
      for s in scenarios.SCENARIOS:
        for x in PLOT_METRICS:
          per[m][s][x].append(round(float(np.mean(vals[m][s][x])), 6))
  out = {"ks": ks, "seeds": list(seeds), "methods": {m: per[m] for m in trained},
         "floors": {f: per[f] for f in CURVE_FLOORS}}
  evaluate.write_json(os.path.join(workdir, "curve.json"), out)
  plot(out, os.path.join(workdir, "curve.png"))
  return out


def plot(curve: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(len(PLOT_METRICS), len(scenarios.SCENARIOS),
                           figsize=(16, 7), squeeze=False)
  for col, s in enumerate(scenarios.SCENARIOS):
    for row, x in enumerate(PLOT_METRICS):
      ax = axes[row][col]
      for m, res in curve["methods"].items():
        ax.plot(curve["ks"], res[s][x], marker="o", label=m)
      for f, res in curve["floors"].items():
        ax.plot(curve["ks"], res[s][x], linestyle="--", label=f"{f} (floor)")
      ax.set_xscale("log")
      ax.minorticks_off()
      ax.set_xticks(curve["ks"], [str(k) for k in curve["ks"]])
      ax.set_title(f"{s}: {x}")
      ax.set_xlabel("support size K")
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  os.replace(tmp, path)
