"""Several training runs as one vmapped, jitted computation.

A run is (prep, init seed, outer hparams, traced method hparams). Runs of one
method share the static config (shapes, step counts), so their train states
stack on a leading run axis and one `jax.vmap` of the meta-step trains them
all: five seeds (each with its own user split, tables and data order), or
one seed under many learning rates / weight decays (the sweep). The outer
learning rate and weight decay live in the optimizer state
(optax.inject_hyperparams), so they are traced per run too.

Each step every run draws its own batch (train.Schedule, as a single run
would); batches are padded to the largest support bucket among the runs,
which adds only masked zeros. Validation is per run on its own validation
users; each run keeps its own best-on-validation parameters. Training stops
early after `patience` evaluations without improvement: of the runs' mean
validation MAE when the runs are seeds of one configuration (stop_on_mean:
the configuration's curve; with "any run improved", one noisy seed of five
kept the others training, e.g. ML-1M MAML ran 1000 steps for bests at
300-700), or of any run in a sweep (each configuration's own curve).
"""

import dataclasses
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metarec_jax import train
from metarec_jax.data import batching
from metarec_jax.meta import step as meta


@dataclasses.dataclass
class Run:
  prep: object
  seed: int            # Init key and data order; the prep holds the split.
  outer_lr: float
  weight_decay: float
  hparams: dict        # Traced method hparams, e.g. {"inner_lr": 0.05}.
  init_method: object = None  # This prep's method object for init (its
  # output bias is the prep's global mean); None: the shared method.


class EarlyStop:
  """Counts evaluations without improvement; update() says when to stop.

  on_mean: improvement means a lower mean of the runs' latest validation
  MAEs than at any earlier evaluation; otherwise, any run reaching its own
  best. patience 0 never stops.
  """

  def __init__(self, patience: int, on_mean: bool):
    self.patience, self.on_mean = patience, on_mean
    self.best_mean, self.since_best = float("inf"), 0

  def update(self, latest_maes, any_run_improved: bool) -> bool:
    improved = any_run_improved
    if self.on_mean:
      mean = float(np.mean(latest_maes))
      improved = mean < self.best_mean
      self.best_mean = min(mean, self.best_mean)
    self.since_best = 0 if improved else self.since_best + 1
    return bool(self.patience) and self.since_best >= self.patience


def make_optimizer(outer_lr: float, weight_decay: float, clip_norm: float):
  """Adam(W) whose learning rate and weight decay are optimizer state."""
  parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
  return optax.chain(*parts, optax.inject_hyperparams(optax.adamw)(
      learning_rate=outer_lr, weight_decay=weight_decay))


def stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def take(tree, i: int):
  return jax.tree.map(lambda x: x[i], tree)


def make_runs_step(method, optimizer):
  """step(states, tables, batch, hparams) with a leading run axis on all."""

  def one(state, tables, batch, hparams):
    rng = jax.random.fold_in(state.rng, state.step)
    loss, grads = jax.value_and_grad(method.loss)(state.params, tables, batch,
                                                  rng, hparams)
    updates, opt_state = optimizer.update(grads, state.opt_state,
                                          state.params)
    params = optax.apply_updates(state.params, updates)
    return (state.replace(params=params, opt_state=opt_state,
                          step=state.step + 1),
            {"loss": loss, "grad_norm": optax.tree.norm(grads)})

  return jax.jit(jax.vmap(one), donate_argnums=0)


def init_states(method, runs, clip_norm: float):
  states = []
  for r in runs:
    opt = make_optimizer(r.outer_lr, r.weight_decay, clip_norm)
    tables = jax.tree.map(np.asarray, r.prep.tables)
    key = jax.random.fold_in(jax.random.key(r.seed), 1)  # As train.py.
    states.append(meta.init_state(r.init_method or method, opt, tables, key))
  return stack(states)


def prepare(method, runs, config):
  """(step_fn, stacked states, tables, hparams, batch(step)) for the runs.

  batch(step) stacks each run's own batch for that step (train.Schedule),
  padded to the largest support bucket among them.
  """
  optimizer = make_optimizer(1e-3, 0.0, config.clip_norm)  # State holds lr.
  tables = stack([jax.tree.map(np.asarray, r.prep.tables) for r in runs])
  hparams = stack([r.hparams for r in runs])
  schedules = [train.Schedule(r.prep.tasks["train"], config.batch_size,
                              config.data.buckets, r.seed) for r in runs]

  def batch(step: int):
    parts = [s.batch(step) for s in schedules]
    size = max(b.support_items.shape[1] for b in parts)
    return stack([batching.repad(b, size) for b in parts])

  return (make_runs_step(method, optimizer),
          init_states(method, runs, config.clip_norm), tables, hparams, batch)


def train_runs(method, runs, config, log_prefix: str = "",
               drop_diverged: bool = False, stop_on_mean: bool = False
               ) -> dict:
  """Trains all runs together; returns best params per run and records.

  Returns {"best_params": [params per run], "records": [{best_step,
  best_validation_mae, history}], "final_params": [...], "timing": {...}}.
  A non-finite loss raises TrainingDiverged; with drop_diverged (a sweep,
  where a too-high rate is an expected outcome) that run's record gets
  "diverged_at" (the evaluation step that saw it) and it stops being
  evaluated, while the other runs go on (all diverged: training stops).
  stop_on_mean: early stopping watches the mean validation MAE of the live
  runs instead of whether any run improved (see the module docstring).
  """
  t0 = time.time()
  step_fn, states, tables, hparams, next_batch = prepare(method, runs, config)
  predict_fn = meta.make_predict(method)
  records = [{"best_step": 0, "best_validation_mae": float("inf"),
              "history": []} for _ in runs]
  best = [jax.device_get(take(states.params, i)) for i in range(len(runs))]
  stopper = EarlyStop(config.get("patience", 0), stop_on_mean)
  done, t_compile = 0, None
  for step in range(config.num_steps):
    states, m = step_fn(states, tables, next_batch(step), hparams)
    if t_compile is None:
      jax.block_until_ready(m)
      t_compile = time.time() - t0
    done = step + 1
    if done % config.eval_every and done != config.num_steps:
      continue
    loss = np.asarray(jax.device_get(m["loss"]))
    for i in np.flatnonzero(~np.isfinite(loss)):
      records[i].setdefault("diverged_at", done)
    alive = ["diverged_at" not in r for r in records]
    if not all(alive) and not drop_diverged:
      raise train.TrainingDiverged(f"{log_prefix}non-finite loss at step "
                                   f"{done}: {loss}")
    if not any(alive):
      logging.info("%severy run diverged by step %d", log_prefix, done)
      break
    improved, latest = False, []
    for i, r in enumerate(runs):
      if not alive[i]:
        continue
      params = take(states.params, i)
      mae = train.validation_mae(predict_fn, params, r.prep,
                                 take(hparams, i), config)
      records[i]["history"].append([done, round(mae, 6)])
      latest.append(mae)
      if mae < records[i]["best_validation_mae"]:
        records[i].update(best_validation_mae=mae, best_step=done)
        best[i] = jax.device_get(params)
        improved = True
    stop = stopper.update(latest, improved)
    logging.info("%sstep %d loss %s validation MAE %s", log_prefix, done,
                 np.round(loss, 4),
                 [round(r["history"][-1][1], 4) if r["history"] else None
                  for r in records])
    if stop:
      logging.info("%searly stop at step %d", log_prefix, done)
      break
  jax.block_until_ready(states.params)
  return {"best_params": best, "records": records,
          "final_params": [jax.device_get(take(states.params, i))
                           for i in range(len(runs))],
          "timing": {"wall_s": time.time() - t0,
                     "first_step_s": t_compile, "steps_run": done,
                     "runs": len(runs)},
          "predict_fn": predict_fn}
