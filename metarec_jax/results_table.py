"""results.json files of separate runs -> one mean ± std table.

For runs made one at a time with scripts/main.py (`--config.seed=N`), laid
out as ROOT/<row name>/s<seed>/results.json. Formatting and statistics are
tables.py's (the same as scripts/reproduce_table.py), so both kinds of
table read alike. Floors are taken from the runs; every row must hold the
same seeds, and a seed's floors must agree across rows (same tasks), else
the rows were not run on the same data and the table says so by failing.
"""

import json
import pathlib
import re

from metarec_jax import tables
from metarec_jax.data.sources import DataError


def load_runs(root) -> dict:
  """{row name: {seed: results dict}} for ROOT/<row>/s<seed>/results.json."""
  runs = {}
  for path in sorted(pathlib.Path(root).glob("*/s*/results.json")):
    match = re.fullmatch(r"s(\d+)", path.parent.name)
    if not match:
      continue
    with open(path) as f:
      try:
        results = json.load(f)
      except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
    runs.setdefault(path.parent.parent.name, {})[int(match[1])] = results
  if not runs:
    raise DataError(f"{root}: no <row>/s<seed>/results.json files")
  return runs


def build(root, rows=None) -> dict:
  """tables.build_table over the seeds every selected row has finished."""
  runs = load_runs(root)
  rows = [r for r in (rows or sorted(runs)) if r in runs]
  seeds = sorted(set.intersection(*(set(runs[r]) for r in rows)))
  if not seeds:
    raise DataError(f"{root}: rows {rows} share no finished seed")
  floors = []
  for s in seeds:
    first = runs[rows[0]][s]["floors"]
    for r in rows[1:]:
      if runs[r][s]["floors"] != first:
        raise DataError(f"{root}/{r}/s{s}/results.json: floors differ from "
                        f"{rows[0]}'s for seed {s}: not the same tasks")
    floors.append(first)
  table = tables.build_table(
      {r: [runs[r][s]["scenarios"] for s in seeds] for r in rows}, floors)
  table["seeds"] = seeds
  return table
