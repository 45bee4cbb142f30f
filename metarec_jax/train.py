"""train_and_evaluate(config, workdir): meta-train, select on validation,
evaluate the four scenarios once, write the result files.

The batch for step s is a pure function of (seed, s), so a run restarted from
a checkpoint replays exactly the batches an uninterrupted run would see.
"""

import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax import (checkpoints, evaluate, methods, metrics, sharding,
                         writers)
from metarec_jax.data import batching, pipeline, scenarios
from metarec_jax.meta import step as meta


class TrainingDiverged(RuntimeError):
  pass


class Schedule:
  """Step -> padded batch; each epoch is a seeded shuffle of bucketed batches."""

  def __init__(self, tasks, batch_size: int, buckets, seed: int):
    self.tasks, self.batch_size, self.buckets = tasks, batch_size, buckets
    self.seed = seed
    self.per_epoch = len(batching.plan_batches(tasks, batch_size, buckets))
    self._epoch, self._plan = None, None

  def batch(self, step: int):
    epoch, i = divmod(step, self.per_epoch)
    if epoch != self._epoch:
      rng = scenarios.rng_for(self.seed, "train", epoch)
      self._plan = batching.plan_batches(self.tasks, self.batch_size,
                                         self.buckets, rng)
      self._epoch = epoch
    size, idx = self._plan[i]
    return batching.pad_tasks(self.tasks, idx, size, self.batch_size)


def compile_all_shapes(meta_step, state, tables, tasks, batch_size: int,
                       buckets, hparams, place=lambda b: b) -> float:
  """Compiles the meta-step for every bucket before the loop; returns seconds.

  Runs each shape once on a copy of the state and an all-padding batch, so
  compilation is timed on its own and never lands inside the timed steps.
  """
  t0 = time.time()
  for size in buckets:
    dummy = place(batching.pad_tasks(tasks, np.array([], np.int64), size,
                                     batch_size))
    scratch = jax.tree.map(jnp.copy, state)  # The step donates its input.
    jax.block_until_ready(meta_step(scratch, tables, dummy, hparams))
  return time.time() - t0


def _steps_to_boundary(step: int, config, scan_steps: int) -> int:
  """How many steps to run before the next log, eval or checkpoint step."""
  n = min(scan_steps, config.num_steps - step)
  for every in (config.log_every, config.eval_every, config.checkpoint_every):
    n = min(n, every - step % every)
  return max(n, 1)


def validation_mae(predict_fn, params, prep, hparams, config) -> float:
  """The selection criterion: query MAE of the validation users' tasks.

  With config.validation_k_shots = (K, ...), the mean of that MAE over the
  full supports and the same tasks cut to each K (users with fewer than K
  support ratings left out of that K): selection then sees how a model does
  from a handful of ratings too, not only from the validation users' full
  supports (3-90 ratings; on ML-1M a median of 30, against 13 in warm).
  """
  tasks = prep.tasks["validation"]
  sets = [(tasks, config.data.buckets)] + [
      (tasks.k_shot(k), (k,)) for k in config.get("validation_k_shots", ())]
  maes = []
  for t, buckets in sets:
    pred = evaluate.clip(evaluate.predict_tasks(
        predict_fn, params, prep.tables, t, hparams, config.eval_batch_size,
        buckets), prep.rating_range)
    maes.append(metrics.compute_metrics(t.query_ratings, pred)["mae"])
  return float(np.mean(maes))


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs one experiment; returns the results dict also written to disk."""
  os.makedirs(workdir, exist_ok=True)
  t_start = time.time()
  prep = pipeline.prepare(config.data, config.seed)
  t_data = time.time() - t_start
  method = methods.build(config, prep)
  optimizer = meta.make_optimizer(config.outer_lr, config.clip_norm)
  meta_step = meta.make_meta_step(method, optimizer)
  predict_fn = meta.make_predict(method)
  # On the device once: numpy tables would be copied in on every step.
  tables = jax.device_put(jax.tree.map(np.asarray, prep.tables))
  hparams = methods.hparams(config)

  key = jax.random.key(config.seed)
  state = meta.init_state(method, optimizer, tables, jax.random.fold_in(key, 1))
  best_params = state.params
  record = {"best_step": -1, "best_validation_mae": float("inf"),
            "history": []}
  ckpt = checkpoints.Checkpointer(workdir)
  start = ckpt.latest_step()
  if start is not None:
    state, best_params, record = ckpt.restore(start, state, best_params)
    logging.info("Resumed from step %d (best validation MAE %.4f at %d)",
                 start, record["best_validation_mae"], record["best_step"])
  start = int(state.step)
  place = lambda batch: batch
  if jax.device_count() > 1:  # Split tasks over devices, replicate the rest.
    mesh = sharding.task_mesh()
    state, tables = sharding.replicate((state, tables), mesh)
    place = lambda batch: sharding.shard_batch(batch, mesh)
    logging.info("Sharding task batches over %d devices", mesh.devices.size)

  schedule = Schedule(prep.tasks["train"], config.batch_size,
                      config.data.buckets, config.seed)
  writer = writers.MetricWriter(os.path.join(workdir, "tensorboard"))
  progress = writers.Progress(config.num_steps, start)
  compile_s = compile_all_shapes(meta_step, state, tables, prep.tasks["train"],
                                 config.batch_size, config.data.buckets,
                                 hparams, place)
  logging.info("Compiled the meta-step for %d shapes in %.1fs",
               len(config.data.buckets), compile_s)
  scan_steps = config.get("scan_steps", 1)
  scanned = meta.make_scanned_steps(method, optimizer) if scan_steps > 1 else None
  pending, t_loop, t_side, done = [], time.time(), 0.0, start
  while done < config.num_steps:
    n = _steps_to_boundary(done, config, scan_steps)
    if n > 1:  # n steps in one jitted scan, no host round trip between.
      batches = batching.stack([schedule.batch(s)
                                for s in range(done, done + n)])
      state, m = scanned(state, tables, batches, hparams)
    else:
      state, m = meta_step(state, tables, place(schedule.batch(done)),
                           hparams)
    pending.append(m)
    done += n
    if done % config.log_every == 0 or done == config.num_steps:
      # Host transfer only here: the loop above stays asynchronous.
      ms = jax.device_get(pending)
      pending = []
      losses = np.concatenate([np.ravel(x["loss"]) for x in ms])
      norms = np.concatenate([np.ravel(x["grad_norm"]) for x in ms])
      loss = float(losses.mean())
      if not np.all(np.isfinite(losses)) or not np.all(np.isfinite(norms)):
        last = ckpt.latest_step()
        raise TrainingDiverged(
            f"non-finite loss or gradient at step {done}; last good "
            "checkpoint: " + (f"step {last} in {workdir}/checkpoints"
                              if last is not None else "none yet") +
            "; lower outer_lr or inner_lr (a rerun resumes from there).")
      writer.write_scalars(done, {"train/loss": loss,
                                  "train/grad_norm": float(norms[-1])})
      logging.info("step %s", progress(done))
    side = (done % config.eval_every == 0 or done == config.num_steps
            or done % config.checkpoint_every == 0)
    if side:  # Validation and checkpoints are timed apart from the steps.
      jax.block_until_ready(state.params)
      t_side0 = time.time()
    if done % config.eval_every == 0 or done == config.num_steps:
      mae = validation_mae(predict_fn, state.params, prep, hparams, config)
      record["history"].append([done, round(mae, 6)])
      writer.write_scalars(done, {"validation/mae": mae})
      if mae < record["best_validation_mae"]:
        record["best_validation_mae"], record["best_step"] = mae, done
        best_params = jax.tree.map(np.array, state.params)
    if done % config.checkpoint_every == 0 or done == config.num_steps:
      ckpt.save(done, state, best_params, record)
    if side:
      t_side += time.time() - t_side0
  jax.block_until_ready(state.params)
  n_timed = config.num_steps - start
  ms_per_step = (1e3 * (time.time() - t_loop - t_side) / n_timed
                 if n_timed > 0 else None)
  writer.flush()

  t_eval = time.time()
  results = evaluate.evaluate_scenarios(workdir, prep, predict_fn,
                                        best_params, hparams, config)
  results.update(seed=config.seed, config=config.to_dict(),
                 selection={"best_step": record["best_step"],
                            "best_validation_mae": record["best_validation_mae"],
                            "history": record["history"]})
  evaluate.write_json(os.path.join(workdir, "results.json"),
                      evaluate.round_floats(results))
  evaluate.write_json(os.path.join(workdir, "split.json"),
                      evaluate.split_manifest(prep))
  timing = {
      "wall_s": time.time() - t_start, "data_s": t_data,
      "eval_s": time.time() - t_eval, "compile_s": compile_s,
      "steps_run": config.num_steps - start,
      "ms_per_step_mean": ms_per_step,
      "batch_size": config.batch_size, "inner_steps": config.inner_steps,
      "padding_fraction": batching.padding_fraction(
          prep.tasks["train"], config.batch_size, config.data.buckets),
      "backend": jax.default_backend(),
  }
  evaluate.write_json(os.path.join(workdir, "timing.json"), timing)
  writer.close()
  ckpt.close()
  return results
