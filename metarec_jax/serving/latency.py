"""Serving latency: adapt + rank for 1 and 64 users, after compiling."""

import time

import jax
import numpy as np

from metarec_jax.serving import recommender


def benchmark_supports(rec: recommender.Recommender, n: int) -> list:
  """n realistic support sets: new users' supports from the user_cold tasks
  (validation tasks if there are none), cycled."""
  tasks = rec.prep.test_tasks("user_cold")
  if not len(tasks):
    tasks = rec.prep.tasks["validation"]
  idx = [i % len(tasks) for i in range(n)]
  return [(tasks.support_items[i], tasks.support_ratings[i]) for i in idx]


def benchmark(rec: recommender.Recommender, k: int = 10,
              repeats: int = 50) -> dict:
  """p50/p99 ms of adapt + rank for 1 and 64 users (after compiling)."""
  out = {"backend": jax.default_backend(), "repeats": repeats,
         "items": len(rec.item_ids), "k": k}
  for n in (1, recommender.USER_BUCKETS[-1]):
    supports = benchmark_supports(rec, n)
    users = [[(rec.item_ids[i], float(r)) for i, r in zip(*s)]
             for s in supports]
    t0 = time.perf_counter()
    rec.recommend(dict(enumerate(users)), k)  # Compiles this shape.
    compile_ms = 1e3 * (time.perf_counter() - t0)
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      rec.recommend(dict(enumerate(users)), k)
      times.append(1e3 * (time.perf_counter() - t0))
    out[f"users_{n}"] = {"p50_ms": float(np.percentile(times, 50)),
                         "p99_ms": float(np.percentile(times, 99)),
                         "first_call_ms": compile_ms}
  return out
