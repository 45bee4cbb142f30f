"""Metric writer (TensorBoard event files) and progress lines with an ETA.

The writer's shape is clu's MetricWriter (write_scalars, flush); the event
files come from tensorboardX because clu's TensorBoard writer imports
TensorFlow. Log lines are the engine's: one per step boundary for a group
of runs, not one per run and scalar.
"""

import time

from metarec_jax.core import hosts


class MetricWriter:
  """Writes scalars to TensorBoard event files in logdir."""

  def __init__(self, logdir: str | None):
    self._tb = None
    if logdir and hosts.is_writer():  # One process's events, not one each.
      import tensorboardX  # Imported lazily: only runs that log need it.
      self._tb = tensorboardX.SummaryWriter(logdir)

  def write_scalars(self, step: int, scalars: dict) -> None:
    if self._tb is not None:
      for k, v in scalars.items():
        self._tb.add_scalar(k, float(v), step)

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


class Progress:
  """Formats 'done/total, rate, ETA' for long loops."""

  def __init__(self, total: int, start: int = 0):
    self.total, self.start, self.t0 = total, start, time.time()

  def __call__(self, done: int) -> str:
    elapsed = time.time() - self.t0
    rate = (done - self.start) / max(elapsed, 1e-9)
    eta = (self.total - done) / rate if rate > 0 else float("inf")
    return (f"{done}/{self.total} ({100.0 * done / max(self.total, 1):.0f}%), "
            f"{rate:.1f}/s, ETA {eta:.0f}s")
