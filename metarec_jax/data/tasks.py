"""Ragged per-user tasks, before padding: the unit stored and batched.

A TaskSet holds one scenario's tasks. Indices are dense (see
`features.Vocab`); original ids live in the dataset's id arrays.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class TaskSet:
  """N tasks; support sizes vary, the query size is fixed.

  Attributes:
    users: int32 [N] dense user index.
    support_items: N int32 arrays, support item indices.
    support_ratings: N float32 arrays.
    query_items: int32 [N, Q].
    query_ratings: float32 [N, Q].
  """
  users: np.ndarray
  support_items: list
  support_ratings: list
  query_items: np.ndarray
  query_ratings: np.ndarray

  def __len__(self) -> int:
    return len(self.users)

  @property
  def support_sizes(self) -> np.ndarray:
    return np.array([len(s) for s in self.support_items], dtype=np.int32)

  @property
  def n_ratings(self) -> int:
    return int(self.support_sizes.sum() + self.query_items.size)

  def subset(self, index) -> "TaskSet":
    index = np.asarray(index)
    return TaskSet(
        users=self.users[index],
        support_items=[self.support_items[i] for i in index],
        support_ratings=[self.support_ratings[i] for i in index],
        query_items=self.query_items[index],
        query_ratings=self.query_ratings[index])

  def k_shot(self, k: int) -> "TaskSet":
    """The tasks with at least k support ratings, support cut to the first k.

    The same tasks scenarios.make_tasks(..., k_shot=k) builds from the same
    ratings and seed (its support is the permutation's tail, cut to k).
    """
    keep = np.flatnonzero(self.support_sizes >= k)
    out = self.subset(keep)
    out.support_items = [s[:k] for s in out.support_items]
    out.support_ratings = [s[:k] for s in out.support_ratings]
    return out

  def equals(self, other: "TaskSet") -> bool:
    return (len(self) == len(other)
            and np.array_equal(self.users, other.users)
            and np.array_equal(self.query_items, other.query_items)
            and np.array_equal(self.query_ratings, other.query_ratings)
            and all(np.array_equal(a, b) for a, b in
                    zip(self.support_items, other.support_items))
            and all(np.array_equal(a, b) for a, b in
                    zip(self.support_ratings, other.support_ratings)))
