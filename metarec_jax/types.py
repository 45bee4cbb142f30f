"""Type aliases and the padded task batch shared by every module."""

from typing import Any

import flax
import jax

Params = Any
PRNGKey = jax.Array
Array = jax.Array


@flax.struct.dataclass
class TaskBatch:
  """T user tasks, support padded to S, query padded to Q (10).

  Features are looked up inside jitted code from the feature tables, so a
  batch only carries indices and ratings.

  Attributes:
    user: int32 [T] dense user index.
    support_items: int32 [T, S] dense item index (0 where padded).
    support_ratings: float32 [T, S].
    support_mask: float32 [T, S], 1 for a real rating.
    query_items: int32 [T, Q].
    query_ratings: float32 [T, Q].
    query_mask: float32 [T, Q].
    task_mask: float32 [T], 0 for a padding task that fills the last batch.
  """
  user: Array
  support_items: Array
  support_ratings: Array
  support_mask: Array
  query_items: Array
  query_ratings: Array
  query_mask: Array
  task_mask: Array
