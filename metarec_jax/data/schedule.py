"""The training batches: step -> padded batch, a pure function of the seed.

Each epoch is a seeded shuffle of bucketed batches, so a run restarted from
a checkpoint replays exactly the batches an uninterrupted run would see.
"""

from metarec_jax.core.types import TaskBatch
from metarec_jax.data import batching, scenarios
from metarec_jax.data.tasks import TaskSet


class Schedule:
  """Step -> the padded batch of that step for one run."""

  def __init__(self, tasks: TaskSet, batch_size: int, buckets, seed: int):
    self.tasks, self.batch_size, self.buckets = tasks, batch_size, buckets
    self.seed = seed
    self.per_epoch = len(batching.plan_batches(tasks, batch_size, buckets))
    self._epoch, self._plan = None, None

  def _planned(self, step: int):
    """(support bucket, task indices) of step's batch."""
    epoch, i = divmod(step, self.per_epoch)
    if epoch != self._epoch:
      rng = scenarios.rng_for(self.seed, "train", epoch)
      self._plan = batching.plan_batches(self.tasks, self.batch_size,
                                         self.buckets, rng)
      self._epoch = epoch
    return self._plan[i]

  def support_size(self, step: int) -> int:
    return self._planned(step)[0]

  def batch(self, step: int, rows: range | None = None) -> TaskBatch:
    """Step's batch; with rows, only those rows of it (real tasks fill a
    batch's first rows, padding the rest, so any range of rows is the
    same slice of the whole batch)."""
    size, idx = self._planned(step)
    if rows is None:
      return batching.pad_tasks(self.tasks, idx, size, self.batch_size)
    assert rows.step == 1, rows
    return batching.pad_tasks(self.tasks, idx[rows.start:rows.stop], size,
                              len(rows))
