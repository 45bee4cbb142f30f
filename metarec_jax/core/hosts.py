"""Which process writes, and how processes wait for each other.

A run over several processes (jax.distributed: several hosts, or several
processes on one machine in the tests) computes the same results in every
process. Process 0 alone writes files and holds the workdir lock; the rest
skip every write, so a shared workdir sees each file once. On one process
both are no-ops.
"""

import itertools
import sys
import time


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
  """Leaves message with the coordinator. Process 0 hosts the coordinator,
  so it stays a moment for the others, polling, to read it before its exit
  takes the store down."""
  store = _store()
  if store is not None:
    try:
      store.key_value_set(f"{_FAILED}/{process_index()}", message[-4000:])
    except Exception:  # pylint: disable=broad-except
      return  # The coordinator itself is gone: nothing to tell.
    if process_index() == 0:
      time.sleep(2.0)


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


_ANNOUNCED = "metarec_announced"
_ANNOUNCEMENTS = itertools.count()  # The same sequence in every process.


def next_announcement(what: str) -> str:
  """A fresh key for one announce/await pair about `what` (a workdir):
  every process calls this at the same point of the same code, so their
  counters agree; `what` keeps a process that got out of step from taking
  another step's key."""
  return f"{_ANNOUNCED}/{next(_ANNOUNCEMENTS)}:{what}"


def announce(key: str) -> None:
  """Process 0 tells the others that `key`'s step is done."""
  store = _store()
  if store is not None and process_count() > 1:
    store.key_value_set(key, "done")


def await_announcement(key: str, poll_s: float = 0.5,
                       timeout_s: float = 600.0) -> str | None:
  """Waits until process 0 announces key; returns None then, or 'process
  i: message' as soon as another process reports a failure instead (a
  barrier would wait for the failed process until its heartbeat times
  out, and then not say why), or a message after timeout_s. A process 0
  killed outright takes the store with it: the calls then fail at once,
  and this waits out the heartbeat timeout that stops this process."""
  store = _store()
  if store is None or process_count() == 1:
    return None
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    t0 = time.monotonic()
    try:
      store.blocking_key_value_get(key, int(poll_s * 1000))
      return None
    except Exception:  # pylint: disable=broad-except
      failed = other_failures()  # Timed out: has anyone failed meanwhile?
      if failed:
        return failed[0]
      time.sleep(max(0.0, poll_s - (time.monotonic() - t0)))
  return f"process 0: no word in {timeout_s:g} s"
