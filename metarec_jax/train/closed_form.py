"""Methods fitted in closed form, and runs that start from such a fit.

A closed-form method (meta/base.closed_form: mf_foldin) takes no
meta-steps: `fit` calls its fit once per run, its grid chosen on the run's
own validation users. A method with a pretrainer (meta/base.pretrainer:
mf_meta) starts each run from its own fit of it (`pretrain`), unless the
run starts from another run (init_from) or resumes.
"""

import dataclasses
import os
import time

from absl import logging
import jax
import numpy as np

from metarec_jax.core import io
from metarec_jax.data import pipeline
from metarec_jax.evaluation import selection
from metarec_jax.meta import base
from metarec_jax.train import checkpoints, init_from
from metarec_jax.train.runs import Trained


def train_ratings(prep: pipeline.Prepared) -> dict:
  """The meta-training ratings as dense indices: a closed-form fit's data."""
  train = prep.split.train_pool
  return {"user": prep.users.index(train.user),
          "item": prep.items.index(train.item),
          "rating": np.asarray(train.rating, np.float64)}


def fit(method, runs: list, config) -> Trained:
  """Fits each run of a closed-form method once (base.closed_form): its
  grid is chosen on the run's own validation users, with the same
  criterion as every method's early stopping; the chosen params are saved
  to <run>/params like any run's, the grid and choice go into its record."""
  t0 = time.time()
  best, records = [], []
  for r in runs:
    m = r.init_method or method
    hparams = base.hparams(r.config)
    validate = lambda p, m=m, r=r, h=hparams: selection.validation_mae(
        m, p, r.prep, h, config)
    params, record = m.fit(r.seed, jax.tree.map(np.asarray, r.prep.tables),
                           train_ratings(r.prep), hparams, validate)
    logging.info("%s: fitted in closed form, validation MAE %.6f, chose %s",
                 r.workdir, record["best_validation_mae"],
                 record.get("chosen"))
    checkpoints.save_params(r.workdir, params)
    best.append(params)
    records.append({"best_step": 0, "history": [], **record})
  return Trained(best_params=best, final_params=best, records=records,
                 timing={"wall_s": time.time() - t0, "compile_s": 0.0,
                         "steps_run": 0, "resumed_at": 0, "runs": len(runs),
                         "ms_per_step_mean": None})


def pretrain(method, runs: list, config, group_dir: str) -> list:
  """runs, each to start from its own fit of the method's pretrainer
  (base.pretrainer: mf_meta from mf_foldin) unless it starts from another
  run (init_from) or the group resumes from a checkpoint."""
  if (base.pretrainer(method) is None
      or any(r.config.get("init_from") for r in runs)
      or checkpoints.GroupCheckpointer(group_dir).latest_step() is not None):
    return runs
  fits = [dataclasses.replace(r, init_method=base.pretrainer(
      r.init_method or method)) for r in runs]
  fitted = fit(base.pretrainer(method), fits, config)
  out = []
  for r, params, record in zip(runs, fitted.best_params, fitted.records):
    io.write_json(os.path.join(r.workdir, "pretrain.json"), record)
    out.append(dataclasses.replace(r, init_source=init_from.Source(
        "pretrainer fit", params, r.prep.field_values,
        r.prep.items.labels(np.arange(len(r.prep.items))))))
  return out
