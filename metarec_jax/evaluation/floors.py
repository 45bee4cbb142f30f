"""The floors every method is reported beside (docs/protocol.md).

Each floor maps a TaskSet to query predictions [N, Q] using only what a
method may use: meta-training ratings and the task's own support set.
"""

import numpy as np

from metarec_jax.data.stats import FloorStats
from metarec_jax.data.tasks import TaskSet

FLOORS = ("global_mean", "item_mean", "user_mean", "item_mean_user_bias",
          "random")


def predict(floor: str, stats: FloorStats, tasks: TaskSet, seed: int = 0
            ) -> np.ndarray:
  """Query predictions [N, Q] of one floor."""
  n, q = tasks.query_items.shape
  if floor == "global_mean":
    return np.full((n, q), stats.global_mean)
  if floor == "item_mean":
    return stats.item_mean[tasks.query_items]
  if floor == "user_mean":
    means = np.array([r.mean() if len(r) else stats.global_mean
                      for r in tasks.support_ratings])
    return np.repeat(means[:, None], q, axis=1)
  if floor == "item_mean_user_bias":
    bias = np.array([(r - stats.item_mean[i]).mean() if len(r) else 0.0
                     for i, r in zip(tasks.support_items,
                                     tasks.support_ratings)])
    return stats.item_mean[tasks.query_items] + bias[:, None]
  if floor == "random":
    # Ratings drawn from the meta-training distribution; its nDCG is
    # reported as the exact expectation over random rankings instead.
    rng = np.random.default_rng([seed, 99])
    return rng.choice(stats.ratings, size=(n, q)).astype(np.float64)
  raise ValueError(f"unknown floor {floor!r}; choose from {FLOORS}")
