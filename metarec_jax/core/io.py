"""Atomic file writing and stable JSON: a crash never leaves half a file,
and the same numbers give the same bytes on every platform."""

import json
import os

from metarec_jax.core import hosts
from metarec_jax.core.errors import DataError


def write_text(path: str, text: str) -> None:
  """Writes through a temporary file and a rename (process 0 only: the
  others of a multi-process run compute the same text)."""
  if not hosts.is_writer():
    return
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def write_json(path: str, obj) -> None:
  write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def read_json(path: str, what: str = "file"):
  """Parsed JSON; a missing or broken file is a DataError naming it."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    raise DataError(f"{path}: not found ({what}).") from None
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg}).") from None


def round_floats(tree, digits: int = 6):
  """Rounds floats so result files are stable across platforms' last bits."""
  if isinstance(tree, dict):
    return {k: round_floats(v, digits) for k, v in tree.items()}
  if isinstance(tree, float):
    return round(tree, digits)
  return tree
