"""The table's meta-step, timed: one method's seeds vmapped as in the table.

coldstart.train_method trains a row with runs.train_runs; this takes the
same runs, step, states and per-seed batches (coldstart.make_run,
runs.prepare) and times calls of the step alone (no validation), so a row's
training time splits into steps x step time.
"""

import os
import time

import jax
import numpy as np

from metarec_jax import coldstart, runs, zoo


def time_method(config, preps: dict, name: str, steps: int) -> dict:
  """ms per step (median of `steps` calls after one warm-up) and process
  CPU time / wall time for method `name` over config.seeds (preps: seed ->
  prep with item means)."""
  c = coldstart.method_config(config, name)
  seeds = list(c.seeds)
  batch_runs = [coldstart.make_run(c, preps, s) for s in seeds]
  step_fn, states, tables, hparams, batch = runs.prepare(
      zoo.build(c, preps[seeds[0]]), batch_runs, c)

  t0 = time.time()
  states, m = step_fn(states, tables, batch(0), hparams)
  jax.block_until_ready(m)
  compile_s = time.time() - t0
  walls, cpu0, t0 = [], os.times(), time.time()
  for i in range(1, steps + 1):
    b = batch(i)  # Built outside the timed call, as the table overlaps it.
    t = time.time()
    states, m = step_fn(states, tables, b, hparams)
    jax.block_until_ready(m)
    walls.append(time.time() - t)
  cpu1, wall = os.times(), time.time() - t0
  return {"ms_per_step_median": 1e3 * float(np.median(walls)),
          "cpu_per_wall": (cpu1.user - cpu0.user + cpu1.system
                           - cpu0.system) / wall,
          "runs": len(batch_runs), "batch_size": c.batch_size,
          "inner_steps": c.inner_steps, "buckets": list(c.data.buckets),
          "first_call_s": compile_s, "steps_timed": steps}
