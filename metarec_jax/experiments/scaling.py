"""How cost grows: MeLU's meta-step and catalogue scoring as one dimension
grows at a time (scripts/scaling.py -> results/scaling_<backend>.json).

Each point compiles its shape once and times `steps` runs of it (median);
memory is XLA's own account of the compiled program (arguments, outputs
and temporaries: compiled.memory_analysis()), not the process's RSS, so it
is the same on every run of one shape. Dimensions: tasks per batch,
support length (up to 90: the most any ML-100K training support holds),
inner steps, catalogue size (items scored for a batch of
users after one adaptation; item ids wrap around the real catalogue, which
costs the same as distinct items) and simulated device count (a fresh
process per count, the batch split over the task axis). The synthetic
catalogue (1,000,000 users x 200,000 items) is sized, not stored: what one
host holds, and the score matrix that must never be materialised.
"""

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from configs import melu as melu_config
from metarec_jax.core import config_util
from metarec_jax.core.types import Query
from metarec_jax.data import batching, pipeline
from metarec_jax.evaluation import predict
from metarec_jax.experiments import benchmark
from metarec_jax.meta import base, registry
from metarec_jax.train import sharding, step

BASE = {"batch_size": 32, "support": 32, "inner_steps": 5}
AXES = {"batch_size": (8, 32, 128, 512), "support": (16, 32, 64, 90),
        "inner_steps": (1, 2, 5, 10)}
CATALOGUE = (1_000, 10_000, 100_000, 200_000)
DEVICES = (1, 2, 4)
SYNTHETIC = {"users": 1_000_000, "items": 200_000}


def _memory_mb(compiled) -> float | None:
  m = compiled.memory_analysis()
  if m is None:
    return None
  total = (m.argument_size_in_bytes + m.output_size_in_bytes
           + m.temp_size_in_bytes - m.alias_size_in_bytes)
  return round(total / 2 ** 20, 2)


def _setup(inner_steps: int):
  config = config_util.with_overrides(melu_config.get_config("ml100k"), {
      "inner_steps": inner_steps})
  config.data.use_tfds = False
  prep = pipeline.prepare(config.data, 0)
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  return config, prep, method, tables


def _timed(fn, args, steps: int, feed_back: bool):
  """Median seconds of fn(*args); feed_back: fn returns (state, _) and
  donates the state, which the next call takes."""
  times = []
  for _ in range(steps + 1):  # The first is a warm-up.
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t0)
    if feed_back:
      args = (out[0],) + tuple(args[1:])
  return float(np.median(times[1:]))


def step_point(batch_size: int, support: int, inner_steps: int,
               steps: int = 10, mesh=None) -> dict:
  config, prep, method, tables = _setup(inner_steps)
  state = step.init_state(method, tables, 0, config.outer_lr,
                          config.weight_decay, config.clip_norm)
  # Real tasks with `support` ratings each (repeated if the batch is larger).
  tasks = prep.tasks["train"].k_shot(support)
  idx = np.arange(batch_size) % len(tasks)
  batch = benchmark.with_run_axis(
      batching.pad_tasks(tasks, idx, support, batch_size))
  states, run_tables, hp = (benchmark.with_run_axis(t) for t in (
      state, tables, base.hparams(config)))
  if mesh is not None:
    batch = sharding.shard_batch(batch, mesh, task_axis=1)
    states, run_tables = sharding.replicate((states, run_tables), mesh)
  fn = step.make_step(method, config.clip_norm)
  t0 = time.perf_counter()
  compiled = fn.lower(states, run_tables, batch, hp).compile()
  compile_s = time.perf_counter() - t0
  ms = 1e3 * _timed(compiled, (states, run_tables, batch, hp), steps, True)
  return {"ms_per_step": round(ms, 3), "compile_s": round(compile_s, 2),
          "memory_mb": _memory_mb(compiled),
          "tasks_per_s": round(batch_size / ms * 1e3, 1)}


def catalogue_point(items: int, users: int = 32, steps: int = 5) -> dict:
  """Adapt `users` tasks once, then score `items` items for each."""
  config, prep, method, tables = _setup(BASE["inner_steps"])
  params = method.init(jax.random.key(0), tables)
  hp = base.hparams(config)
  tasks = prep.tasks["validation"].k_shot(BASE["support"])
  b = batching.pad_tasks(tasks, np.arange(users) % len(tasks),
                         BASE["support"], users)
  adapt, score = predict.jitted_parts(method)
  adapted = adapt(params, tables, b.support, hp)
  n_items = len(tables["item_id"])
  query = Query(b.user, np.tile(np.arange(items) % n_items, (users, 1)))
  compiled = score.lower(params, tables, adapted, query).compile()
  ms = 1e3 * _timed(compiled, (params, tables, adapted, query), steps, False)
  return {"ms_per_batch": round(ms, 2), "users": users,
          "items_per_s": round(users * items / ms * 1e3),
          "memory_mb": _memory_mb(compiled)}


def devices_point(n: int) -> dict:
  """The base step on n simulated CPU devices (on any backend), in a
  fresh process."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
  proc = subprocess.run(
      [sys.executable, "-m", "metarec_jax.experiments.scaling", str(n)],
      env=env, capture_output=True, text=True, check=False, timeout=900)
  if proc.returncode:
    raise RuntimeError(f"the {n}-device point failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def synthetic_catalogue(item_point: dict) -> dict:
  """What 1M users x 200K items needs, from the measured item rate."""
  u, i = SYNTHETIC["users"], SYNTHETIC["items"]
  return {**SYNTHETIC,
          "score_matrix_gb_float32": round(u * i * 4 / 2 ** 30, 1),
          # One user's scores at a time: what a streamed top-k holds.
          "one_user_scores_mb": round(i * 4 / 2 ** 20, 2),
          "full_ranking_cpu_hours_at_measured_rate": round(
              u * i / item_point["items_per_s"] / 3600, 2)}


def run(steps: int = 10) -> dict:
  out = {"backend": jax.default_backend(), "cpus": os.cpu_count(),
         "date": time.strftime("%Y-%m-%d"), "base": BASE, "axes": {}}
  for axis, values in AXES.items():
    out["axes"][axis] = {}
    for v in values:
      point = step_point(**{**BASE, axis: v}, steps=steps)
      out["axes"][axis][str(v)] = point
      print(f"{axis}={v}: {point}", flush=True)
  out["catalogue"] = {str(c): catalogue_point(c, steps=3) for c in CATALOGUE}
  out["devices"] = {str(n): devices_point(n) for n in DEVICES}
  out["synthetic"] = synthetic_catalogue(out["catalogue"][str(CATALOGUE[-1])])
  return out


if __name__ == "__main__":  # devices_point's child: python -m ... N
  n_devices = int(sys.argv[1])
  print(json.dumps(step_point(**BASE, mesh=sharding.task_mesh(n_devices))))


def by_value(points: dict) -> list:
  """[(value, point)] in numeric order (JSON files sort keys as text)."""
  return sorted(points.items(), key=lambda kv: float(kv[0]))


def markdown(report: dict, path: str) -> str:
  """docs/performance.md's scaling block."""
  base = ", ".join(f"{k} {v}" for k, v in report["base"].items())
  lines = [f"Generated by `scripts/update_docs.py` from `{path}` (measured "
           f"{report['date']}, backend `{report['backend']}`, "
           f"{report['cpus']} cores; plot: "
           f"[{os.path.basename(path).replace('.json', '.png')}]"
           f"(../{path.replace('.json', '.png')})). MeLU on ML-100K, one "
           f"dimension at a time from the base point ({base}); memory: XLA's "
           "account of the compiled program.", "",
           "| dimension | value | ms | tasks/s or items/s | XLA memory MB |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for axis, points in report["axes"].items():
    for v, p in by_value(points):
      lines.append(f"| {axis} | {v} | {p['ms_per_step']} | "
                   f"{p['tasks_per_s']} | {p['memory_mb']} |")
  for v, p in by_value(report["catalogue"]):
    lines.append(f"| catalogue items ({p['users']} users) | {v} | "
                 f"{p['ms_per_batch']} | {p['items_per_s']} | "
                 f"{p['memory_mb']} |")
  for v, p in by_value(report["devices"]):
    lines.append(f"| simulated devices | {v} | {p['ms_per_step']} | "
                 f"{p['tasks_per_s']} | {p['memory_mb']} |")
  s = report["synthetic"]
  lines += ["", f"Synthetic catalogue, {s['users']:,} users x "
            f"{s['items']:,} items: the score matrix would be "
            f"{s['score_matrix_gb_float32']:,} GB in float32, so it is "
            f"never built: ranking streams one user's {s['one_user_scores_mb']}"
            " MB of scores at a time. At the measured scoring rate, ranking "
            f"every user over every item takes "
            f"{s['full_ranking_cpu_hours_at_measured_rate']:,} hours on this "
            "machine, and scoring 200,000 items for one batch of 32 users "
            "holds the memory in the catalogue row above (catalogue ranking "
            "scores in item chunks for that reason): users split over "
            "devices and hosts, items in chunks per device."]
  return "\n".join(lines) + "\n"
