"""results.json files of separate runs -> one mean ± std table.

For runs made one at a time with scripts/main.py (`--config.seed=N`), laid
out as ROOT/<row name>/s<seed>/results.json, and for the per-run files of a
reproduce_table.py workdir, ROOT/runs/<row name>/seed<seed>/results.json; rows
of several roots are joined (e.g. a table's rows and text rows run later on
the same seeds, which the floor check below proves). Formatting and
statistics are tables.py's (the same as scripts/reproduce_table.py), so both
kinds of table read alike. Floors are taken from the runs; every row must hold the
same seeds, and a seed's floors must agree across rows (same tasks), else
the rows were not run on the same data and the table says so by failing.
A row whose files carry no floors (the table's `ensemble`, whose members'
runs carry them) is not checked.
"""

import json
import pathlib
import re

from metarec_jax.core.errors import DataError
from metarec_jax.experiments import tables


_LAYOUTS = (("*/s*/results.json", r"s(\d+)"),
            ("runs/*/seed*/results.json", r"seed(\d+)"))


def load_runs(root) -> dict:
  """{row name: {seed: results dict}} from ROOT's runs (both layouts)."""
  runs = {}
  for pattern, seed_re in _LAYOUTS:
    for path in sorted(pathlib.Path(root).glob(pattern)):
      match = re.fullmatch(seed_re, path.parent.name)
      if not match:
        continue
      with open(path) as f:
        try:
          results = json.load(f)
        except json.JSONDecodeError as e:
          raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})"
                          ) from e
      runs.setdefault(path.parent.parent.name, {})[int(match[1])] = results
  if not runs:
    raise DataError(f"{root}: no <row>/s<seed>/results.json or "
                    "runs/<row>/seed<seed>/results.json files")
  return runs


def load_roots(roots, replace: bool = False) -> tuple[dict, dict]:
  """load_runs over several roots -> ({row: {seed: results}}, {row: root}).

  A row found in two roots is refused, unless replace: then the later root's
  row wins (e.g. a method rerun with its tuned config) and the returned
  sources say which root every row came from.
  """
  runs, where = {}, {}
  for root in roots:
    for row, seeds in load_runs(root).items():
      if row in runs and not replace:
        raise DataError(f"{root}: row {row!r} is also in {where[row]}; "
                        "keep one of them (or pass replace)")
      runs[row], where[row] = seeds, str(root)
  return runs, where


def build(root, rows=None, replace: bool = False) -> dict:
  """tables.build_table over the seeds every selected row has finished.

  root: a folder, or a list of folders whose rows are joined (see
  load_roots for replace).
  """
  runs, where = load_roots(
      [root] if isinstance(root, (str, pathlib.Path)) else root, replace)
  rows = [r for r in (rows or sorted(runs)) if r in runs]
  seeds = sorted(set.intersection(*(set(runs[r]) for r in rows)))
  if not seeds:
    raise DataError(f"{root}: rows {rows} share no finished seed")
  checked = [r for r in rows if all("floors" in runs[r][s] for s in seeds)]
  if not checked:
    raise DataError(f"{root}: no row carries floors")
  floors = []
  for s in seeds:
    first = runs[checked[0]][s]["floors"]
    for r in checked[1:]:
      if runs[r][s]["floors"] != first:
        raise DataError(f"{where[r]}/{r}/s{s}/results.json: floors differ "
                        f"from {checked[0]}'s ({where[checked[0]]}) for seed "
                        f"{s}: not the same tasks")
    floors.append(first)
  table = tables.build_table(
      {r: [runs[r][s]["scenarios"] for s in seeds] for r in rows}, floors)
  table["seeds"] = seeds
  table["sources"] = {r: where[r] for r in rows}
  # Each row's mean best validation MAE, where its runs record one (an
  # ensemble's selection is its members' records: it has none of its own,
  # as in scripts/reproduce_table.py's table).
  selected = [r for r in rows if all(
      "best_validation_mae" in runs[r][s].get("selection", {})
      for s in seeds)]
  ks = {tuple(runs[r][s].get("config", {}).get("validation_k_shots") or ())
        for r in selected for s in seeds}
  tables.add_selection(
      table, {r: [float(runs[r][s]["selection"]["best_validation_mae"])
                  for s in seeds] for r in selected},
      # One criterion for every row: name it.
      ks.pop() if len(ks) == 1 else ())
  return table
