"""Type aliases and the padded task batch shared by every layer."""

from typing import Any

import flax
import jax

Params = Any
PRNGKey = jax.Array
Array = jax.Array


@flax.struct.dataclass
class Support:
  """The ratings a method adapts to: T tasks padded to S.

  user int32 [T]; items int32 [T, S] (0 where padded); ratings float32
  [T, S]; mask float32 [T, S], 1 for a real rating.
  """
  user: Array
  items: Array
  ratings: Array
  mask: Array


@flax.struct.dataclass
class Query:
  """The items a method scores: user int32 [T], items int32 [T, Q]. No
  ratings, by construction."""
  user: Array
  items: Array


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

  @property
  def support(self) -> Support:
    return Support(self.user, self.support_items, self.support_ratings,
                   self.support_mask)

  @property
  def query(self) -> Query:
    return Query(self.user, self.query_items)
