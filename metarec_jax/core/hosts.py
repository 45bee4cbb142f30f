"""Which process writes, and how processes wait for each other.

A run over several processes (jax.distributed: several hosts, or several
processes on one machine in the tests) computes the same results in every
process. Process 0 alone writes files and holds the workdir lock; the rest
skip every write, so a shared workdir sees each file once. On one process
both are no-ops.
"""

import sys


def _jax():
  """jax, if this process runs jax.distributed; else None (one process).
  Only a process that imported jax can be one of several, and asking an
  uninitialised one for its index would start its backend (on a GPU,
  claiming memory) in scripts that only write a file."""
  jax = sys.modules.get("jax")
  if jax is None or not jax.distributed.is_initialized():
    return None
  return jax


def process_count() -> int:
  jax = _jax()
  return jax.process_count() if jax is not None else 1


def process_index() -> int:
  jax = _jax()
  return jax.process_index() if jax is not None else 0


def is_writer() -> bool:
  """True in the one process that writes files (process 0)."""
  jax = _jax()
  return jax is None or jax.process_index() == 0


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (one process: none)."""
  if process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


# jax.distributed's key-value store (on process 0's coordinator): a process
# that fails leaves its message here, so the processes it stops can say
# which one failed and why, not only that a collective lost its peer.
_FAILED = "metarec_failed"


def _store():
  try:
    from jax._src import distributed  # pylint: disable=g-import-not-at-top
    return distributed.global_state.client
  except ImportError:
    return None


def report_failure(message: str) -> None:
  store = _store()
  if store is not None:
    try:
      store.key_value_set(f"{_FAILED}/{process_index()}", message[-4000:])
    except Exception:  # pylint: disable=broad-except
      pass  # The coordinator itself is gone: nothing to tell.


def other_failures() -> list[str]:
  """'process i: message' of every other process that reported a failure."""
  store = _store()
  if store is None:
    return []
  try:
    found = store.key_value_dir_get(_FAILED)
  except Exception:  # pylint: disable=broad-except
    return []
  me = str(process_index())
  return [f"process {key.rsplit('/', 1)[-1]}: {value}"
          for key, value in sorted(found) if key.rsplit("/", 1)[-1] != me]
