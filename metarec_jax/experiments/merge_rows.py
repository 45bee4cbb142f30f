"""Moves finished rows from one table workdir into another.

Two processes cannot share a table workdir (its lock), so on a machine with
cores to spare a long table's rows can train in a second workdir with the
same config and seeds, and move in when done. The move takes the rows
whose every seed finished, checks that both workdirs hold the same data
(the residual bases and each seed's split), carries the rows' timing
entries and adds the source's wall time and processes to the target's
timing.json, so the table's wall_s still sums every process that worked
on it. A rerun of
reproduce_table.py on the target with the rows in --config.methods reads
them back into the table.
"""

import math
import os
import shutil

from metarec_jax.core import io
from metarec_jax.core.errors import WorkdirError
from metarec_jax.core.workdir import claim
from metarec_jax.experiments.coldstart import run_dir


def _seeds(workdir: str, row: str) -> list[int]:
  folder = os.path.join(workdir, "runs", row)
  return sorted(int(n[4:]) for n in os.listdir(folder)
                if n.startswith("seed") and n[4:].isdigit())


def _same_file(a: str, b: str, what: str) -> None:
  for path in (a, b):
    if not os.path.isfile(path):
      raise WorkdirError(f"{path}: not found, so the two workdirs' "
                         f"{what} cannot be compared; nothing moved.")
  with open(a, "rb") as fa, open(b, "rb") as fb:
    if fa.read() != fb.read():
      raise WorkdirError(f"{a} differs from {b}: the two workdirs do not "
                         f"hold the same {what}; merge only rows of the "
                         "same config and seeds.")


# Residual bases are chosen on validation MAEs that two processes can
# compute a rounding apart (seen: 0.865972 against 0.865973): those may
# differ by this much; everything else (the choices, the grid) must match.
BASE_TOLERANCE = 1e-5
TOLERANT_KEY = "validation_mae"


def _close(a, b, tol: float, key: str = "") -> bool:
  """a == b, except floats under TOLERANT_KEY within tol (NaN equals NaN)
  (nested dicts and lists)."""
  if isinstance(a, dict) and isinstance(b, dict):
    return a.keys() == b.keys() and all(_close(a[k], b[k], tol, k)
                                        for k in a)
  if isinstance(a, list) and isinstance(b, list):
    return len(a) == len(b) and all(_close(x, y, tol, key)
                                    for x, y in zip(a, b))
  if key == TOLERANT_KEY and isinstance(a, float) and isinstance(b, float):
    return abs(a - b) <= tol or (math.isnan(a) and math.isnan(b))
  return a == b


def _same_bases(a: str, b: str) -> None:
  for path in (a, b):
    if not os.path.isfile(path):
      raise WorkdirError(f"{path}: not found, so the two workdirs' residual "
                         "bases cannot be compared; nothing moved.")
  if not _close(io.read_json(a), io.read_json(b), BASE_TOLERANCE):
    raise WorkdirError(f"{a} differs from {b} (beyond {BASE_TOLERANCE:g} in "
                       "a validation MAE, or in a choice): the two workdirs "
                       "do not hold the same residual bases; merge only rows "
                       "of the same config and seeds.")


def _finished(source: str, row: str) -> bool:
  seeds = _seeds(source, row)
  return bool(seeds) and all(os.path.isfile(os.path.join(
      run_dir(source, row, s), "results.json")) for s in seeds)


def _check(source: str, target: str, rows) -> None:
  """Raises WorkdirError unless every (finished) row can move."""
  base = "residual_base.json"
  if os.path.isfile(os.path.join(source, base)) or os.path.isfile(
      os.path.join(target, base)):
    _same_bases(os.path.join(source, base), os.path.join(target, base))
  runs = os.path.join(target, "runs")
  existing = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
  if not existing:
    raise WorkdirError(f"{target}/runs: empty; train a row there first (its "
                       "splits are what a moved row is checked against).")
  for row in rows:
    if os.path.exists(os.path.join(target, "runs", row)):
      raise WorkdirError(f"{target}/runs/{row}: exists; nothing moved.")
    for s in _seeds(source, row):
      _same_file(os.path.join(run_dir(source, row, s), "split.json"),
                 os.path.join(run_dir(target, existing[0], s), "split.json"),
                 f"split for seed {s}")


def _timing(workdir: str) -> dict:
  path = os.path.join(workdir, "timing.json")
  return io.read_json(path) if os.path.isfile(path) else {}


def merge(source: str, target: str) -> tuple[list, dict]:
  """Moves every finished row of source into target under both locks, and
  source's timing.json with them; returns (the rows, target's updated
  timing.json dict). A row still training stays (its checkpoints resume
  in source); the next process there starts a new timing.json, which a
  later merge adds: no second counts a process twice."""
  with claim(source, finished=None), claim(target, finished=None):
    runs = os.path.join(source, "runs")
    rows = sorted(r for r in (os.listdir(runs) if os.path.isdir(runs)
                              else []) if _finished(source, r))
    if not rows:
      raise WorkdirError(f"{source}/runs: no finished rows to move.")
    _check(source, target, rows)
    src, dst = _timing(source), _timing(target)
    for row in rows:
      shutil.move(os.path.join(source, "runs", row),
                  os.path.join(target, "runs", row))
      if row in src:
        dst[row] = {**src[row], "merged_from": source}
    dst["wall_s"] = round(dst.get("wall_s", 0) + src.get("wall_s", 0), 1)
    dst["processes"] = dst.get("processes", 0) + src.get("processes", 0)
    io.write_json(os.path.join(target, "timing.json"), dst)
    if src:  # Counted now: source's next process starts from zero.
      os.replace(os.path.join(source, "timing.json"),
                 os.path.join(source, "timing.merged.json"))
  return rows, dst
