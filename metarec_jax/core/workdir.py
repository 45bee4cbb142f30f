"""A workdir claimed by one run at a time.

A finished workdir (results.json present) is not trained over without
`overwrite`; a workdir in use by another process is refused. The lock is an
flock on `<workdir>/.lock`, which the kernel releases when its process dies,
so a run killed with -9 never leaves a stale lock behind.
"""

import contextlib
import fcntl
import os
import shutil

from metarec_jax.core import hosts
from metarec_jax.core.errors import UserError, WorkdirError

# What a training run writes; --overwrite removes exactly these.
RUN_OUTPUTS = ("checkpoints", "params", "tensorboard", "members",
               "results.json", "split.json", "timing.json")


def remove(workdir: str, names) -> None:
  """Removes the named files and folders of workdir that exist."""
  for name in names:
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


def _outputs(workdir: str, names) -> tuple:
  return tuple(names) + tuple(n for n in os.listdir(workdir)
                              if n.startswith("predictions_"))


@contextlib.contextmanager
def claim(workdir: str, overwrite: bool = False,
          finished: str | None = "results.json", outputs=RUN_OUTPUTS):
  """Holds the workdir's lock for the block (see _claim_here). In a run of
  several processes process 0 claims it, and the others wait until it has
  (and has removed what `overwrite` removes) before they read it."""
  key = hosts.next_announcement(f"claim {os.path.abspath(workdir)}")
  if not hosts.is_writer():
    failed = hosts.await_announcement(key)
    if failed:
      raise WorkdirError(f"{workdir}: not claimed, because {failed}")
    hosts.barrier("workdir claimed")
    yield
    return
  with _claim_here(workdir, overwrite, finished, outputs):
    hosts.announce(key)
    hosts.barrier("workdir claimed")
    yield


@contextlib.contextmanager
def _claim_here(workdir: str, overwrite: bool, finished: str | None,
                outputs):
  """Holds the workdir's lock for the block.

  Raises WorkdirError when another process holds it, or when the file
  `finished` exists there and `overwrite` is False (finished=None: a run
  that resumes whatever it finds). With `overwrite`, the named `outputs`
  (and predictions_*) are removed under the lock, so training starts from
  step 0. A workdir this call created is removed again if the block fails
  on bad input before writing anything else.
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
    if overwrite:
      remove(workdir, _outputs(workdir, outputs))
    elif finished and os.path.exists(os.path.join(workdir, finished)):
      raise WorkdirError(f"{workdir}: holds a finished run ({finished}); "
                         "pass --overwrite to train it again from scratch "
                         "or choose another --workdir.")
    try:
      yield
    except UserError:
      if created and os.listdir(workdir) == [".lock"]:
        shutil.rmtree(workdir, ignore_errors=True)
      raise
  finally:
    os.close(fd)
