"""Which process writes, and how processes wait for each other.

A run over several processes (jax.distributed: several hosts, or several
processes on one machine in the tests) computes the same results in every
process. Process 0 alone writes files and holds the workdir lock; the rest
skip every write, so a shared workdir sees each file once. On one process
both are no-ops.
"""

import sys


def _jax():
  # Only a process that imported jax can be one of several: files that never
  # train (serving, docs) keep their imports light.
  return sys.modules.get("jax")


def process_count() -> int:
  jax = _jax()
  return jax.process_count() if jax is not None else 1


def is_writer() -> bool:
  """True in the one process that writes files (process 0)."""
  jax = _jax()
  return jax is None or jax.process_index() == 0


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (one process: none)."""
  if process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)
