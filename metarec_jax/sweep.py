"""Hyperparameter sweep selected on validation users only.

The grid is config.sweep: traced floats (inner_lr, outer_lr, weight_decay,
bias_prior, support_prior)
are crossed and trained as ONE vmapped computation per static group; static
choices (inner_steps, embed_dim, item_id_dropout: they change shapes or the
traced graph) each form a group. Every configuration trains on
config.sweep.seeds (default: seed 0) and is scored by its best validation
MAE (mean over those seeds); test scenarios are never touched. A
configuration whose loss turns non-finite on any seed is kept in the file
with its `diverged_at` steps and never selected. Writes
W/sweep.json: every configuration with its validation MAE and chosen step,
the best one, and its override dict for configs/tables/tuned.py.

Every configuration starts from the method's table config, which includes
its configs/tables/tuned.py entry if it has one, num_steps too: a re-sweep
runs no longer than the committed override's step count. sweep.json
records that base num_steps.
"""

import itertools
import os
import time

from absl import logging
import ml_collections
import numpy as np

from metarec_jax import coldstart, evaluate, methods, runs, train, zoo
from metarec_jax.data import pipeline
from metarec_jax.meta import residual

TRACED = ("inner_lr", "outer_lr", "weight_decay", "bias_prior",
          "support_prior")
STATIC = ("inner_steps", "embed_dim", "item_id_dropout")


def _grid(config, names):
  sweep = config.sweep
  values = [tuple(sweep.get(n) or (_default(config, n),)) for n in names]
  return [dict(zip(names, v)) for v in itertools.product(*values)]


def _default(config, name):
  if name in ("embed_dim", "item_id_dropout"):
    return config.model[name]
  return config.get(name, 0.0)


def _static_config(base, static: dict):
  c = ml_collections.ConfigDict(base.to_dict())
  c.inner_steps = static["inner_steps"]
  c.model.embed_dim = static["embed_dim"]
  c.model.item_id_dropout = static["item_id_dropout"]
  return c


def _with(config, **values):
  c = ml_collections.ConfigDict(config.to_dict())
  c.update(values)
  return c


def run_sweep(config, method_name: str, workdir: str) -> dict:
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  seeds = list(config.sweep.get("seeds", (0,)))
  preps = {s: pipeline.prepare(config.data, s) for s in seeds}
  for prep in preps.values():
    residual.add_item_means(prep)
  base = coldstart.method_config(config, method_name)
  logging.info("sweep %s: %d steps per configuration, seeds %s", method_name,
               base.num_steps, seeds)
  rows = []
  for static in _grid(base, STATIC):
    c = _static_config(base, static)
    method = zoo.build(c, preps[seeds[0]])
    traced = _grid(base, TRACED)
    # Each run's hparams and init method come from its own config: Meta-SGD's
    # learned rates start from inner_lr (a parameter), the other methods
    # read the traced values.
    configs = [_with(c, **t) for t in traced]
    batch = [runs.Run(preps[s], s, t["outer_lr"], t["weight_decay"],
                      methods.hparams(ct), zoo.build(ct, preps[s]))
             for t, ct in zip(traced, configs) for s in seeds]
    res = runs.train_runs(method, batch, c, f"sweep {static}: ",
                          drop_diverged=True)
    for j, t in enumerate(traced):
      recs = res["records"][j * len(seeds):(j + 1) * len(seeds)]
      diverged = [r.get("diverged_at") for r in recs]
      rows.append({**static, **t,
                   # A configuration that diverged on any seed is out.
                   "validation_mae": None if any(diverged) else float(
                       np.mean([r["best_validation_mae"] for r in recs])),
                   "best_steps": [r["best_step"] for r in recs],
                   "diverged_at": diverged})
    logging.info("group %s done (%d configs) at %.0fs", static, len(traced),
                 time.time() - t0)
  rows.sort(key=lambda r: (r["validation_mae"] is None,
                           r["validation_mae"] or 0.0))
  best = rows[0]
  if best["validation_mae"] is None:
    raise train.TrainingDiverged(
        f"every configuration of the {method_name} sweep diverged; lower "
        "the rates (the grid is config.sweep)")
  override = {**{k: best[k] for k in TRACED},
              "inner_steps": best["inner_steps"],
              "num_steps": int(max(best["best_steps"])),
              "model": {"embed_dim": best["embed_dim"],
                        "item_id_dropout": best["item_id_dropout"]}}
  out = {"method": method_name, "dataset": config.data.name, "seeds": seeds,
         "num_steps": base.num_steps,
         "selection": "best validation MAE (mean over seeds); test unread",
         "best": best, "override": override, "configs": rows,
         "wall_s": round(time.time() - t0, 1), "load_avg": os.getloadavg()}
  evaluate.write_json(os.path.join(workdir, "sweep.json"), out)
  return out
