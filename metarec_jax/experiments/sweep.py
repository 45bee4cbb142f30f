"""Hyperparameter sweep selected on validation users only.

The grid is config.sweep: traced floats (inner_lr, outer_lr, weight_decay,
bias_prior, support_prior, and the overfitting controls adversarial_eps,
adversarial_weight, feature_dropout, text_dropout) are crossed and trained
as ONE vmapped computation per static group; static choices (inner_steps,
embed_dim, item_id_dropout, augment_support_k: they change shapes or the
traced graph) each form a group. Every configuration trains on
config.sweep.seeds (default: seed 0) and is scored by its best validation
MAE (mean over those seeds); test scenarios are never touched. A
configuration whose loss turns non-finite on any seed is kept in the file
with its `diverged_at` steps and never selected. Writes
W/sweep.json: every configuration with its validation MAE and chosen step,
the best one, and its override dict. A sweep explores; a table does not
reuse its choice across seeds: tables choose per seed on each seed's own
validation users (config.grid, experiments/grid.py).

Every configuration starts from the method's table config (with its
config.tuned entry, if any). sweep.json records the base num_steps. Each static group is one engine group
(W/groups/<g>/checkpoints: a killed sweep resumes), each configuration and
seed one run (W/runs/<g>-<j>/seed<s>: its params and TensorBoard events).
"""

import itertools
import os
import time

from absl import logging
import numpy as np

from metarec_jax.core import config_util, io
from metarec_jax.core.errors import TrainingDiverged
from metarec_jax.data import pipeline
from metarec_jax.experiments import coldstart
from metarec_jax.meta import registry
from metarec_jax.train import engine

TRACED = ("inner_lr", "outer_lr", "weight_decay", "bias_prior",
          "support_prior", "item_prior", "adversarial_eps",
          "adversarial_weight", "feature_dropout", "text_dropout",
          "l1_weight")
STATIC = ("inner_steps", "embed_dim", "item_id_dropout",
          "augment_support_k")


def _grid(config, names):
  sweep = config.sweep
  values = [tuple(sweep.get(n) or (_default(config, n),)) for n in names]
  return [dict(zip(names, v)) for v in itertools.product(*values)]


def _default(config, name):
  if name in ("embed_dim", "item_id_dropout"):
    return config.model[name]
  return config.get(name, 0.0)


def _static_config(base, static: dict):
  return config_util.with_overrides(base, {
      "inner_steps": static["inner_steps"],
      "augment_support_k": tuple(static["augment_support_k"]),
      "model": {"embed_dim": static["embed_dim"],
                "item_id_dropout": static["item_id_dropout"]}})


def _train_group(c, g: int, traced: list, seeds, preps, workdir) -> list:
  """Trains one static group's configurations x seeds; returns its rows."""
  # Each run's hparams and init method come from its own config: Meta-SGD's
  # learned rates start from inner_lr (a parameter), the other methods
  # read the traced values.
  runs = []
  for j, t in enumerate(traced):
    for s in seeds:
      ct = config_util.with_overrides(c, t, seed=s)
      runs.append(engine.Run(ct, preps[s], s, os.path.join(
          workdir, "runs", f"{g}-{j}", f"seed{s}"),
                             registry.build(ct, preps[s])))
  res = engine.train(runs[0].init_method, runs, c,
                     os.path.join(workdir, "groups", str(g)),
                     drop_diverged=True, stop_on_mean=False,
                     log_prefix=f"sweep group {g}: ")
  rows = []
  for j, t in enumerate(traced):
    recs = res.records[j * len(seeds):(j + 1) * len(seeds)]
    diverged = [r.get("diverged_at") for r in recs]
    rows.append({**t,
                 # A configuration that diverged on any seed is out.
                 "validation_mae": None if any(diverged) else float(
                     np.mean([r["best_validation_mae"] for r in recs])),
                 "best_steps": [r["best_step"] for r in recs],
                 "diverged_at": diverged})
  return rows


def run_sweep(config, method_name: str, workdir: str) -> dict:
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  seeds = list(config.sweep.get("seeds", (0,)))
  preps = {s: pipeline.prepare(config.data, s) for s in seeds}
  base = coldstart.method_config(config, method_name)
  logging.info("sweep %s: %d steps per configuration, seeds %s", method_name,
               base.num_steps, seeds)
  rows = []
  for g, static in enumerate(_grid(base, STATIC)):
    traced = _grid(base, TRACED)
    rows += [{**static, **r} for r in _train_group(
        _static_config(base, static), g, traced, seeds, preps, workdir)]
    logging.info("group %s done (%d configs) at %.0fs", static, len(traced),
                 time.time() - t0)
  rows.sort(key=lambda r: (r["validation_mae"] is None,
                           r["validation_mae"] or 0.0))
  best = rows[0]
  if best["validation_mae"] is None:
    raise TrainingDiverged(
        f"every configuration of the {method_name} sweep diverged; lower "
        "the rates (the grid is config.sweep)")
  override = {**{k: best[k] for k in TRACED},
              "inner_steps": best["inner_steps"],
              "augment_support_k": tuple(best["augment_support_k"]),
              "num_steps": int(max(best["best_steps"])),
              "model": {"embed_dim": best["embed_dim"],
                        "item_id_dropout": best["item_id_dropout"]}}
  out = {"method": method_name, "dataset": config.data.name, "seeds": seeds,
         "num_steps": base.num_steps,
         "selection": "best validation MAE (mean over seeds)",
         "best": best, "override": override, "configs": rows,
         "wall_s": round(time.time() - t0, 1), "load_avg": os.getloadavg()}
  io.write_json(os.path.join(workdir, "sweep.json"), out)
  return out
