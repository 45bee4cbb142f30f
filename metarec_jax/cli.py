"""What scripts share: bad input -> one message and exit code 2, no
traceback; and a workdir claimed by one run at a time.

A finished workdir (results.json present) is not trained over without
`overwrite`; a workdir in use by another process is refused. The lock is an
flock on `<workdir>/.lock`, which the kernel releases when its process dies,
so a run killed with -9 never leaves a stale lock behind.
"""

import contextlib
import fcntl
import functools
import os
import shutil
import sys

from metarec_jax.data.assets import AssetError
from metarec_jax.data.sources import DataError

BAD_INPUT = 2
# Files a training run writes; --overwrite removes exactly these.
RUN_OUTPUTS = ("checkpoints", "tensorboard", "results.json", "split.json",
               "timing.json")


class WorkdirError(DataError):
  """The workdir is finished or in use."""


def exit_on_bad_input(fn):
  """Wraps a script's main: input errors print one line and exit 2."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except (DataError, AssetError) as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(BAD_INPUT)
    except RuntimeError as e:  # TrainingDiverged: names step and checkpoint.
      if type(e).__name__ != "TrainingDiverged":
        raise
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)

  return wrapper


def _remove_outputs(workdir: str) -> None:
  for name in RUN_OUTPUTS + tuple(n for n in os.listdir(workdir)
                                  if n.startswith("predictions_")):
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


@contextlib.contextmanager
def claim_workdir(workdir: str, overwrite: bool = False):
  """Holds the workdir's lock for the block.

  Raises WorkdirError when another process holds it, or when the run there
  finished and `overwrite` is False. With `overwrite`, the finished run's
  outputs are removed (under the lock) so training starts from step 0. A
  workdir this call created is removed again if the block fails on bad input
  before writing anything else.
  """
  created = not os.path.exists(workdir)
  os.makedirs(workdir, exist_ok=True)
  lock_path = os.path.join(workdir, ".lock")
  fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise WorkdirError(f"{workdir}: another run is using this workdir "
                         f"(lock {lock_path}); wait for it or choose another "
                         "--workdir.") from None
    if os.path.exists(os.path.join(workdir, "results.json")):
      if not overwrite:
        raise WorkdirError(f"{workdir}: holds a finished run (results.json); "
                           "pass --overwrite to train it again from scratch "
                           "or choose another --workdir.")
      _remove_outputs(workdir)
    try:
      yield
    except DataError:
      if created and os.listdir(workdir) == [".lock"]:
        shutil.rmtree(workdir, ignore_errors=True)
      raise
  finally:
    os.close(fd)
