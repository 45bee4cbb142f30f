"""Padding ragged tasks into fixed-shape `TaskBatch`es, bucketed by size.

Every distinct support size S is a recompile, so S is rounded up to one of a
few buckets and tasks of similar size are batched together: the padding stays
small and the number of compiled shapes stays at len(buckets).
"""

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from metarec_jax.data.scenarios import QUERY_SIZE
from metarec_jax.data.tasks import TaskSet
from metarec_jax.core.types import TaskBatch

DEFAULT_BUCKETS = (16, 32, 64, 96)


def bucket_for(size: int, buckets: Sequence[int]) -> int:
  for b in buckets:
    if size <= b:
      return b
  raise ValueError(f"support size {size} exceeds the largest bucket "
                   f"{buckets[-1]}")


def pad_tasks(tasks: TaskSet, index: np.ndarray, support_size: int,
              num_tasks: int) -> TaskBatch:
  """Pads tasks[index] to [num_tasks, support_size] / [num_tasks, Q]."""
  t, s = num_tasks, support_size
  user = np.zeros(t, np.int32)
  s_items = np.zeros((t, s), np.int32)
  s_ratings = np.zeros((t, s), np.float32)
  s_mask = np.zeros((t, s), np.float32)
  q_items = np.zeros((t, QUERY_SIZE), np.int32)
  q_ratings = np.zeros((t, QUERY_SIZE), np.float32)
  q_mask = np.zeros((t, QUERY_SIZE), np.float32)
  task_mask = np.zeros(t, np.float32)
  for row, i in enumerate(index):
    n = len(tasks.support_items[i])
    user[row] = tasks.users[i]
    s_items[row, :n] = tasks.support_items[i]
    s_ratings[row, :n] = tasks.support_ratings[i]
    s_mask[row, :n] = 1.0
    q_items[row] = tasks.query_items[i]
    q_ratings[row] = tasks.query_ratings[i]
    q_mask[row] = 1.0
    task_mask[row] = 1.0
  return TaskBatch(user, s_items, s_ratings, s_mask, q_items, q_ratings,
                   q_mask, task_mask)


def plan_batches(tasks: TaskSet, batch_size: int, buckets: Sequence[int],
                 rng: np.random.Generator | None = None):
  """Groups task indices by bucket into lists of at most batch_size.

  With an rng, tasks are shuffled within buckets and the batch order is
  shuffled (training); without, the order is deterministic (evaluation).
  Returns [(support_size, indices)].
  """
  sizes = tasks.support_sizes
  plan = []
  for b in buckets:
    lower = max([x for x in buckets if x < b], default=-1)
    idx = np.flatnonzero((sizes > lower) & (sizes <= b))
    if rng is not None:
      idx = rng.permutation(idx)
    plan += [(b, idx[i:i + batch_size])
             for i in range(0, len(idx), batch_size)]
  if len(sizes) and sizes.max() > buckets[-1]:
    raise ValueError(f"support size {sizes.max()} exceeds the largest "
                     f"bucket {buckets[-1]}")
  if rng is not None:
    plan = [plan[i] for i in rng.permutation(len(plan))]
  return plan


def iterate_batches(tasks: TaskSet, batch_size: int, buckets: Sequence[int],
                    rng: np.random.Generator | None = None
                    ) -> Iterator[tuple[np.ndarray, TaskBatch]]:
  """Yields (task indices, padded batch of exactly batch_size tasks)."""
  for size, idx in plan_batches(tasks, batch_size, buckets, rng):
    yield idx, pad_tasks(tasks, idx, size, batch_size)


def padding_fraction(tasks: TaskSet, batch_size: int,
                     buckets: Sequence[int]) -> float:
  """Share of support slots that are padding under the bucketed plan."""
  total = sum(size * batch_size
              for size, _ in plan_batches(tasks, batch_size, buckets))
  return 1.0 - tasks.support_sizes.sum() / max(total, 1)


def repad(batch: TaskBatch, support_size: int) -> TaskBatch:
  """Pads a batch's support axis (the last; leading run or step axes are
  kept) up to support_size (masked slots)."""
  extra = support_size - batch.support_items.shape[-1]
  if extra == 0:
    return batch
  pad = lambda x: np.pad(x, ((0, 0),) * (x.ndim - 1) + ((0, extra),))
  return batch.replace(support_items=pad(batch.support_items),
                       support_ratings=pad(batch.support_ratings),
                       support_mask=pad(batch.support_mask))


def stack(batches: Sequence[TaskBatch]) -> TaskBatch:
  """[n] batches -> one batch with a leading axis n, support padded to the
  largest among them."""
  size = max(b.support_items.shape[-1] for b in batches)
  padded = [repad(b, size) for b in batches]
  names = [f.name for f in dataclasses.fields(TaskBatch)]
  return TaskBatch(**{n: np.stack([getattr(b, n) for b in padded])
                      for n in names})
