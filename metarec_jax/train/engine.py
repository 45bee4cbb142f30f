"""The one training loop: R runs of one method as one jitted, vmapped step.

A run is (config, data, seed, folder): five seeds of a table row, the grid
points of a sweep, the members of an ensemble, or the single run of
scripts/main.py (R = 1). Runs of one method share its static config (shapes,
step counts), so their train states stack on a leading run axis and
train/step.py's vmapped step trains them all; each run's outer rate, weight
decay and method hparams are traced, so they may differ.

For every run, whichever script started it: its own batches (data/schedule.py,
a pure function of its seed and the step), validation on its own validation
users every `eval_every` steps, its best-on-validation parameters kept and
saved to <run>/params, TensorBoard events in <run>/tensorboard, and progress
with an ETA in the log. For the group: early stopping after `patience`
evaluations without improvement (the runs' mean MAE, or any run's for a
sweep), checkpoints in <group>/checkpoints every `checkpoint_every` steps and
at the end (a rerun of the same command resumes from the latest and gives
the same numbers), and a stop naming the step and the last good checkpoint
when a loss goes non-finite (in a sweep, that run is dropped instead).

A closed-form method (meta/base.closed_form: mf_foldin) takes no meta-steps:
each run is fitted once by the method's `fit`, which chooses its
hyperparameters on the run's validation users, and its params are saved
like any run's, so evaluation, tables and serving read it unchanged.
"""

import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.core import io, writers
from metarec_jax.core.errors import TrainingDiverged
from metarec_jax.data import batching, schedule
from metarec_jax.evaluation import selection
from metarec_jax.meta import base, ensemble
from metarec_jax.train import closed_form
from metarec_jax.train import runs as runs_lib
from metarec_jax.train import (checkpoints, controls, early_stop, init_from,
                               sharding, step)


Run, Trained = runs_lib.Run, runs_lib.Trained  # engine.Run, as ever.


stack = ensemble.stack  # Trees on a new leading axis: runs, here.


def take(tree, i: int):
  return jax.tree.map(lambda x: x[i], tree)


def steps_to_boundary(done: int, config, scan_steps: int) -> int:
  """How many steps to run before the next log, eval or checkpoint step."""
  n = min(scan_steps, config.num_steps - done)
  for every in (config.log_every, config.eval_every, config.checkpoint_every):
    n = min(n, every - done % every)
  return max(n, 1)


class Group:
  """The state of one training group between steps."""

  def __init__(self, method, runs, config, group_dir: str):
    self.method, self.runs, self.config = method, runs, config
    self.group_dir = group_dir
    self.tables = jax.device_put(stack(
        [jax.tree.map(np.asarray, r.prep.tables) for r in runs]))
    self.hparams = stack([base.hparams(r.config) for r in runs])
    # Validation runs on the host's copy: the mesh's would make every
    # validation batch a program over every device.
    self.host_hparams = jax.device_get(self.hparams)
    sources = {}  # config.init_from: each source run loaded once.
    self.states = stack([step.init_state(
        r.init_method or method, jax.tree.map(np.asarray, r.prep.tables),
        r.seed, r.config.outer_lr, r.config.weight_decay, config.clip_norm,
        params=r.init_params,
        start=lambda p, r=r: init_from.initial_params(
            p, r.config, r.prep, r.workdir, sources, r.init_source))
                         for r in runs])
    # Indexed on the host: on the device each leaf shape's slice was a
    # program of its own to compile.
    host = jax.device_get(self.states.params)
    self.best = [take(host, i) for i in range(len(runs))]
    self.records = [{"best_step": 0, "best_validation_mae": float("inf"),
                     "history": []} for _ in runs]
    self.schedules = [schedule.Schedule(
        r.prep.tasks["train"], config.batch_size, config.data.buckets, r.seed)
                      for r in runs]
    self.done, self.finished = 0, False
    self.mesh = None
    # Training seconds of earlier processes, up to their last checkpoint
    # (a process stopped mid-training never writes its timing), and when
    # this process started: each checkpoint carries their sum.
    self.earlier_s, self.t0 = 0.0, time.time()

  def place(self, batch, task_axis: int = 1):
    """On several devices, a batch split along its task axis: 1 behind the
    run axis, 2 for the stacked batches of a scan."""
    if self.mesh is None:
      return batch
    return sharding.shard_batch(batch, self.mesh, task_axis)

  def batch(self, at: int):
    """Every run's batch of step `at`, padded to the largest bucket."""
    return batching.stack([s.batch(at) for s in self.schedules])

  def device_batches(self, at: int, n: int, local: bool | None = None):
    """The batches of steps at..at+n-1 on the devices: [R, T] (n = 1) or
    [n, R, T] (a scan's). With several processes (or local=True) each
    builds only the runs and task rows its own devices hold
    (sharding.assemble); else the whole batch is built and placed."""
    if local is None:
      local = self.mesh is not None and jax.process_count() > 1
    if not local:
      if n == 1:
        return self.place(self.batch(at))
      return self.place(batching.stack([self.batch(s) for s in
                                        range(at, at + n)]), task_axis=2)
    task_axis = 1 if n == 1 else 2
    runs, size = len(self.runs), self.config.batch_size
    sharding.check_split(size, self.mesh)
    shape = (runs, size) if n == 1 else (n, runs, size)
    # Every block padded to the whole batch's support width (the largest
    # bucket of any run at any of the steps), as batching.stack pads it.
    width = max(s.support_size(t) for s in self.schedules
                for t in range(at, at + n))

    def piece(index):
      steps = [at] if n == 1 else [at + j for j in index[0]]
      run_rows, task_rows = index[-2], index[-1]
      out = [batching.stack([batching.repad(
          self.schedules[r].batch(s, task_rows), width) for r in run_rows])
             for s in steps]
      return out[0] if n == 1 else batching.stack(out)

    return sharding.assemble(shape, sharding.task_sharded(
        self.mesh, task_axis), piece)

  def stacked_best(self):
    """The runs' best params on the run axis, replicated on every device of
    every process when sharded (orbax saves global arrays)."""
    best = stack(self.best)
    return best if self.mesh is None else sharding.replicate(best, self.mesh)

  def alive(self) -> list:
    return ["diverged_at" not in r for r in self.records]

  def meta(self, stopper: early_stop.EarlyStop) -> dict:
    return {"done": self.done, "finished": self.finished,
            "records": self.records, "stopper": stopper.state(),
            "train_s": self.earlier_s + time.time() - self.t0}

  def restore(self, ckpt, stopper) -> bool:
    """Resumes from the group's latest checkpoint; False if there is none."""
    latest = ckpt.latest_step()
    if latest is None:
      return False
    self.states, best, meta = ckpt.restore(latest, self.states,
                                           self.stacked_best())
    self.best = [jax.device_get(take(best, i)) for i in range(len(self.runs))]
    self.records, self.done = meta["records"], meta["done"]
    self.finished = meta["finished"]
    self.earlier_s = float(meta.get("train_s", 0.0))  # Older: unrecorded.
    stopper.restore(meta["stopper"])
    logging.info("Resumed %s from step %d", self.group_dir, self.done)
    return True

  def shard(self) -> None:
    """Splits runs and task batches over the devices (sharding.py)."""
    if jax.device_count() == 1:
      return
    self.mesh = sharding.run_task_mesh(len(self.runs))
    self.states, self.tables, self.hparams = sharding.shard_runs(
        (self.states, self.tables, self.hparams), self.mesh)
    logging.info("Sharding %d runs x task batches over %d devices (%s)",
                 len(self.runs), self.mesh.devices.size,
                 dict(self.mesh.shape))

  def to_host(self, tree):
    """A run-axis tree (params, step metrics) on the host, whole, in every
    process (on a mesh, gathered first: another process may hold a run)."""
    if self.mesh is not None:
      tree = sharding.gather(tree, self.mesh)
    return jax.device_get(tree)

  def host_params(self):
    """Every run's current params on the host, in every process."""
    return self.to_host(self.states.params)


def _check_finite(group: Group, pending: list, ckpt, drop: bool) -> list:
  """Marks (drop) or raises on runs whose loss or gradient went non-finite."""
  ms = group.to_host(pending)
  bad = ~np.all([np.isfinite(m["loss"]) & np.isfinite(m["grad_norm"])
                 for m in ms], axis=0)
  for i in np.flatnonzero(bad):
    if not drop:
      last = ckpt.latest_step()
      raise TrainingDiverged(
          f"run {group.runs[i].workdir}: non-finite loss or gradient at step "
          f"{group.done}; last good checkpoint: " + (
              f"step {last} in {group.group_dir}/checkpoints"
              if last is not None else "none yet") +
          "; lower outer_lr or inner_lr (a rerun resumes from there).")
    group.records[i].setdefault("diverged_at", group.done)
  return ms


def _log(group: Group, ms: list, writers_: list, progress, prefix: str):
  losses = np.mean([m["loss"] for m in ms], axis=0)
  norms = ms[-1]["grad_norm"]
  for i, w in enumerate(writers_):
    w.write_scalars(group.done, {"train/loss": float(losses[i]),
                                 "train/grad_norm": float(norms[i])})
  logging.info("%sstep %s, loss %s", prefix, progress(group.done),
               np.round(losses, 4))


def _validate(group: Group, stopper, writers_, prefix: str) -> bool:
  """Scores every live run on its validation users; True: stop training."""
  improved, latest = False, []
  host = group.host_params()
  for i, r in enumerate(group.runs):
    if not group.alive()[i]:
      continue
    params = take(host, i)
    mae = selection.validation_mae(group.method, params, r.prep,
                                   take(group.host_hparams, i), group.config)
    rec = group.records[i]
    rec["history"].append([group.done, round(mae, 6)])
    latest.append(mae)
    writers_[i].write_scalars(group.done, {"validation/mae": mae})
    if mae < rec["best_validation_mae"]:
      rec.update(best_validation_mae=mae, best_step=group.done)
      group.best[i] = jax.device_get(params)
      improved = True
  stop = stopper.update(latest, improved)
  logging.info("%sstep %d validation MAE %s", prefix, group.done,
               [r["history"][-1][1] if r["history"] else None
                for r in group.records])
  if stop:
    logging.info("%searly stop at step %d", prefix, group.done)
  return stop


# One program copies the whole state (a tree.map of jnp.copy compiled one
# per leaf shape).
_copy_tree = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree))


def _compile(group: Group, step_fn) -> float:
  """Compiles the step for every support bucket on a scratch copy of the
  states (the step donates them); returns the seconds it took."""
  t0 = time.time()
  tasks = group.runs[0].prep.tasks["train"]
  for size in group.config.data.buckets:
    one = batching.pad_tasks(tasks, np.array([], np.int64), size,
                             group.config.batch_size)
    dummy = group.place(batching.stack([one] * len(group.runs)))
    scratch = _copy_tree(group.states)
    jax.block_until_ready(step_fn(scratch, group.tables, dummy,
                                  group.hparams))
  return time.time() - t0


def _advance(group: Group, n: int, step_fn, scanned) -> list:
  """Runs n meta-steps (one jitted scan when n > 1); returns their metrics."""
  batches = group.device_batches(group.done, n)
  if n > 1:
    group.states, m = scanned(group.states, group.tables, batches,
                              group.hparams)
    out = [take(m, j) for j in range(n)]
  else:
    group.states, m = step_fn(group.states, group.tables, batches,
                              group.hparams)
    out = [m]
  group.done += n
  return out


def _boundary(group: Group, pending, ckpt, stopper, writers_, progress,
              drop: bool, prefix: str) -> None:
  """Log, validation and checkpoint work due at the current step."""
  config = group.config
  last = group.done == config.num_steps
  at = lambda every: group.done % every == 0 or last
  ms = _check_finite(group, pending, ckpt, drop)
  if at(config.log_every):
    _log(group, ms, writers_, progress, prefix)
  stopped = False
  if not any(group.alive()):
    logging.info("%severy run diverged by step %d", prefix, group.done)
    stopped = True
  elif at(config.eval_every):
    stopped = _validate(group, stopper, writers_, prefix)
  group.finished = stopped or last
  if at(config.checkpoint_every) or group.finished:
    ckpt.save(group.done, group.states, group.stacked_best(),
              group.meta(stopper))


def _start(group: Group, step_fn, stopper, writers_, prefix: str) -> float:
  """Compiles the step (seconds it took). With num_steps = 0 (e.g. a
  transferred model used zero-shot) there is nothing to train: the runs are
  scored on validation as they start, which selects their init. Runs
  started from another run (init_from) are scored as they start too, so
  selection keeps the start unless training improves on it."""
  if group.finished:
    return 0.0
  if group.config.num_steps == 0:
    _validate(group, stopper, writers_, prefix)
    group.finished = True
    return 0.0
  if group.done == 0 and any(r.config.get("init_from") or r.init_source
                             for r in group.runs):
    # A run started from another competes with its start as step 0.
    _validate(group, stopper, writers_, prefix)
  return _compile(group, step_fn)


def _steps(method, runs: list, config):
  """(step, scanned steps or None), compiled with the runs' controls."""
  on = controls.of(r.config for r in runs)
  step_fn = step.make_step(method, config.clip_norm,
                           batch_rows=config.batch_rows, controls=on)
  scanned = (step.make_scanned_steps(method, config.clip_norm,
                                     config.batch_rows, on)
             if config.scan_steps > 1 else None)
  return step_fn, scanned


def train(method, runs: list, config, group_dir: str, *,
          drop_diverged: bool = False, stop_on_mean: bool = True,
          log_prefix: str = "") -> Trained:
  """Trains the runs together (see the module docstring).

  config: the group's static config (num_steps, batch_size, data.buckets,
  eval_every, log_every, checkpoint_every, patience, scan_steps,
  validation_k_shots, eval_batch_size, clip_norm). drop_diverged: a sweep,
  where a too-high rate is an expected outcome. stop_on_mean: early
  stopping watches the runs' mean validation MAE, else any run's own best.
  A closed-form method is fitted instead (train/closed_form.py).
  """
  if base.closed_form(method):
    return closed_form.fit(method, runs, config)
  runs = closed_form.pretrain(method, runs, config, group_dir)
  t0 = time.time()
  group = Group(method, runs, config, group_dir)
  stopper = early_stop.EarlyStop(config.patience, stop_on_mean)
  ckpt = checkpoints.GroupCheckpointer(group_dir)
  group.shard()  # Before restoring, so a restore lands on every device.
  group.restore(ckpt, stopper)
  start = group.done
  step_fn, scanned = _steps(method, runs, config)
  writers_ = [writers.MetricWriter(os.path.join(r.workdir, "tensorboard"))
              for r in runs]
  compile_s = _start(group, step_fn, stopper, writers_, log_prefix)
  progress = writers.Progress(config.num_steps, start)
  pending, t_side, t_loop = [], 0.0, time.time()
  while not group.finished:
    pending += _advance(group, steps_to_boundary(group.done, config,
                                                 config.scan_steps),
                        step_fn, scanned)
    if not any(group.done % every == 0 for every in (
        config.log_every, config.eval_every, config.checkpoint_every)) and (
            group.done < config.num_steps):
      continue
    jax.block_until_ready(group.states.params)
    t_side0 = time.time()
    _boundary(group, pending, ckpt, stopper, writers_, progress,
              drop_diverged, log_prefix)
    pending, t_side = [], t_side + time.time() - t_side0
  steps_run = group.done - start
  loop_s = time.time() - t_loop - t_side
  final = group.host_params()
  for r, params, w in zip(runs, group.best, writers_):
    checkpoints.save_params(r.workdir, params)
    w.close()
  ckpt.close()
  return Trained(
      best_params=group.best,
      final_params=[take(final, i) for i in range(len(runs))],
      records=group.records,
      timing={"wall_s": time.time() - t0, "compile_s": compile_s,
              "steps_run": steps_run, "resumed_at": start, "runs": len(runs),
              "earlier_processes_s": round(group.earlier_s, 1),
              "ms_per_step_mean": (1e3 * loop_s / steps_run if steps_run
                                   else None)})
