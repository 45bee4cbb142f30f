"""Padding, masks, bucketing and determinism of task batches."""

import numpy as np

from metarec_jax.data import batching, scenarios
from metarec_jax.data.tasks import TaskSet


def _toy_tasks(sizes):
  rng = np.random.default_rng(0)
  return TaskSet(
      users=np.arange(len(sizes), dtype=np.int32),
      support_items=[rng.integers(1, 50, n).astype(np.int32) for n in sizes],
      support_ratings=[rng.integers(1, 6, n).astype(np.float32)
                       for n in sizes],
      query_items=rng.integers(1, 50, (len(sizes), 10)).astype(np.int32),
      query_ratings=rng.integers(1, 6, (len(sizes), 10)).astype(np.float32))


def test_padding_and_masks():
  tasks = _toy_tasks([3, 7, 12])
  b = batching.pad_tasks(tasks, np.array([0, 2]), 16, 4)
  assert b.support_items.shape == (4, 16) and b.query_items.shape == (4, 10)
  np.testing.assert_array_equal(b.support_mask.sum(1), [3, 12, 0, 0])
  np.testing.assert_array_equal(b.task_mask, [1, 1, 0, 0])
  np.testing.assert_array_equal(b.support_items[1, :12],
                                tasks.support_items[2])
  assert b.support_ratings[0, 3:].sum() == 0


def test_bucketing_covers_every_task_once():
  tasks = _toy_tasks([3, 15, 16, 17, 40, 90, 33, 64, 65])
  plan = batching.plan_batches(tasks, 2, (16, 32, 64, 96))
  seen = np.concatenate([idx for _, idx in plan])
  assert sorted(seen.tolist()) == list(range(len(tasks)))
  for size, idx in plan:
    assert all(tasks.support_sizes[i] <= size for i in idx)
    smaller = [b for b in (16, 32, 64, 96) if b < size]
    assert all(tasks.support_sizes[i] > max(smaller, default=0) for i in idx)


def test_same_seed_same_batches():
  tasks = _toy_tasks(list(range(3, 60)))
  def batches(seed):
    rng = scenarios.rng_for(seed, "train", 0)
    return list(batching.iterate_batches(tasks, 8, (16, 64), rng))
  a, b, c = batches(1), batches(1), batches(2)
  for (ia, ba), (ib, bb) in zip(a, b):
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(ba.support_items, bb.support_items)
  assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_padding_fraction():
  tasks = _toy_tasks([16, 8])
  # One batch of 2 padded to 16: 24 real slots of 32.
  assert batching.padding_fraction(tasks, 2, (16,)) == 1 - 24 / 32
