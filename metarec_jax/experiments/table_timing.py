"""The table's meta-step, timed: one method's seeds vmapped as in the table.

A table row trains with the engine (coldstart.row_runs); this builds the
same runs, states and per-seed batches (engine.Group) and the same step,
and times calls of the step alone (no validation), so a row's training time
splits into steps x step time.
"""

import os
import time

import jax
import numpy as np

from metarec_jax.experiments import coldstart, grid
from metarec_jax.train import controls, engine, step


def time_method(config, preps: dict, name: str, steps: int) -> dict:
  """ms per step (median of `steps` calls after one warm-up) and process
  CPU time / wall time for method `name` over config.seeds (preps: seed ->
  prepared data)."""
  c = coldstart.method_config(config, name)
  seeds, points = list(c.seeds), grid.points(config, name)
  members = (config.ensemble_size if name == config.ensemble_method
             and config.ensemble_size > 1 else 1)
  # Every seed at every grid point, with the ensemble's members on the
  # ensemble's row: one group, as the table vmaps them (config.vmap_seeds;
  # with it off the table trains each run alone, which this does not
  # time). Nothing is written: the folders are never created.
  batch_runs = coldstart.row_runs(
      c, name, preps, [(s, j, e) for s in seeds for j in range(len(points))
                       for e in range(members)], "", points)
  group = engine.Group(batch_runs[0].init_method, batch_runs, c, "")
  step_fn = step.make_step(batch_runs[0].init_method, c.clip_norm,
                           batch_rows=c.batch_rows,
                           controls=controls.of(r.config for r in batch_runs))
  states, tables, hparams, batch = (group.states, group.tables,
                                    group.hparams, group.batch)

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
          "runs": len(batch_runs), "grid_points": len(points),
          "ensemble_members": members,
          "batch_size": c.batch_size,
          "inner_steps": c.inner_steps, "buckets": list(c.data.buckets),
          "first_call_s": compile_s, "steps_timed": steps}
