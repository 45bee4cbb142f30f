"""The floors every method is reported beside (docs/protocol.md).

Each floor maps a TaskSet to query predictions [N, Q] using only what a
method may use: meta-training ratings and the task's own support set.
"""

import numpy as np

from metarec_jax.data.stats import FloorStats
from metarec_jax.data.tasks import TaskSet

FLOORS = ("global_mean", "item_mean", "user_mean", "item_mean_user_bias",
          "random")
# Item tasks (data/item_world.py) swap users and items, so the same
# computations get the names they have there, and the warm-up floor the
# literature reports: the support mean plus each query user's bias.
ITEM_FLOORS = ("global_mean", "support_mean", "support_mean_user_bias",
               "user_mean", "user_mean_item_bias", "random")
# name -> what it computes, in task terms: the task's support mean, the
# rated entity's training mean, and so on.
_RULES = {
    "user": {"global_mean": "global", "item_mean": "rated_mean",
             "user_mean": "task_mean", "item_mean_user_bias":
             "rated_mean_task_bias", "random": "random"},
    "item": {"global_mean": "global", "support_mean": "task_mean",
             "support_mean_user_bias": "task_mean_rated_bias",
             "user_mean": "rated_mean", "user_mean_item_bias":
             "rated_mean_task_bias", "random": "random"},
}


def names(task_axis: str = "user") -> tuple:
  return FLOORS if task_axis == "user" else ITEM_FLOORS


def predict(floor: str, stats: FloorStats, tasks: TaskSet, seed: int = 0,
            task_axis: str = "user") -> np.ndarray:
  """Query predictions [N, Q] of one floor."""
  rule = _RULES[task_axis].get(floor)
  if rule is None:
    raise ValueError(f"unknown floor {floor!r}; choose from "
                     f"{names(task_axis)}")
  n, q = tasks.query_items.shape
  task_mean = lambda: np.array([r.mean() if len(r) else stats.global_mean
                                for r in tasks.support_ratings])
  if rule == "global":
    return np.full((n, q), stats.global_mean)
  if rule == "rated_mean":
    return stats.item_mean[tasks.query_items]
  if rule == "task_mean":
    return np.repeat(task_mean()[:, None], q, axis=1)
  if rule == "task_mean_rated_bias":
    return task_mean()[:, None] + (stats.item_mean[tasks.query_items]
                                   - stats.global_mean)
  if rule == "rated_mean_task_bias":
    bias = np.array([(r - stats.item_mean[i]).mean() if len(r) else 0.0
                     for i, r in zip(tasks.support_items,
                                     tasks.support_ratings)])
    return stats.item_mean[tasks.query_items] + bias[:, None]
  # Ratings drawn from the meta-training distribution; its nDCG is
  # reported as the exact expectation over random rankings instead.
  rng = np.random.default_rng([seed, 99])
  return rng.choice(stats.ratings, size=(n, q)).astype(np.float64)
