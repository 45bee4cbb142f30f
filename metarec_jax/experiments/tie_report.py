"""How much of a table's nDCG depends on how tied predictions are broken.

docs/protocol.md breaks ties pessimistically (lower true rating first), so a
model that scores two items equal gets their worst order. That is the rule
every table uses. Items with identical features get identical predictions
from any model without an item-specific input: on ML-100K new items differ
only in genres and release-year bucket, so in item_cold many query sets of
the non-text rows hold ties, and a row can rank new items better than a
random order in expectation yet fall below the random floor. This report
reads a table's predictions files and puts, per row and scenario, the
protocol's nDCG@k beside its expectation over random orders of the ties
(metrics.ndcg_at_k_random_ties) and the share of query sets whose nDCG@k
depends on the tie order. It changes no table number and selects nothing.

Input: W/runs/<row>/seed<s>/predictions_<scenario>.csv (columns
user_id,item_id,rating,prediction, one row per query rating, a user's rows
together) and W/table.json for the random floor.
"""

import csv
import json
import pathlib
import re

import numpy as np

from metarec_jax.core.errors import DataError
from metarec_jax.data import scenarios
from metarec_jax.evaluation import metrics
from metarec_jax.experiments import tables

COLUMNS = ["user_id", "item_id", "rating", "prediction"]


def read_predictions(path) -> tuple[np.ndarray, np.ndarray]:
  """(ratings [users, Q], predictions [users, Q]) in the file's user order."""
  users, order = {}, []
  with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    if header != COLUMNS:
      raise DataError(f"{path}:1: header {header}, expected {COLUMNS}")
    for line, row in enumerate(reader, start=2):
      try:
        user, rating, pred = row[0], float(row[2]), float(row[3])
      except (IndexError, ValueError):
        raise DataError(f"{path}:{line}: expected 4 columns "
                        f"{','.join(COLUMNS)}, got {row}") from None
      if user not in users:
        users[user] = []
        order.append(user)
      users[user].append((rating, pred))
  sizes = {len(v) for v in users.values()}
  if len(sizes) > 1:
    raise DataError(f"{path}: query sets of different sizes {sorted(sizes)};"
                    " the protocol's query size is fixed")
  if not users:
    raise DataError(f"{path}: no predictions")
  arr = np.array([users[u] for u in order], np.float64)
  return arr[..., 0], arr[..., 1]


def _runs(workdir) -> dict:
  """{row: {seed: folder}} of a reproduce_table.py workdir."""
  out = {}
  for path in sorted(pathlib.Path(workdir).glob("runs/*/seed*")):
    match = re.fullmatch(r"seed(\d+)", path.name)
    if match and path.is_dir():
      out.setdefault(path.parent.name, {})[int(match[1])] = path
  if not out:
    raise DataError(f"{workdir}: no runs/<row>/seed<s>/ folders")
  return out


def report(workdir, k: int = 3) -> dict:
  """{"k", "random_floor": {S: mean}, "rows": {row: {S: {"pessimistic",
  "random_ties", "tie_dependent": summaries over seeds}}}}; rows ordered
  by validation MAE."""
  path = pathlib.Path(workdir) / "table.json"
  try:
    with open(path) as f:
      table = json.load(f)
  except FileNotFoundError:
    raise DataError(f"{path}: not found; is {workdir} a reproduce_table.py "
                    "workdir?") from None
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
  key = f"ndcg@{k}"
  out = {"k": k, "rows": {}, "random_floor": {
      s: table["floors"]["random"][s][key]["mean"]
      for s in scenarios.SCENARIOS}}
  runs = _runs(workdir)
  # Rows in the selection's order (best validation MAE first), then any
  # others the workdir holds (the ensemble has no validation score).
  val = table.get("validation_mae", {})
  order = [r for r in sorted(val, key=val.get) if r in runs]
  for row in order + sorted(set(runs) - set(order)):
    seeds = runs[row]
    cells = {}
    for s in scenarios.SCENARIOS:
      pess, rand, dep = [], [], []
      for seed in sorted(seeds):
        path = seeds[seed] / f"predictions_{s}.csv"
        if not path.exists():
          continue
        y, p = read_predictions(path)
        a = metrics.ndcg_at_k(y, p, k)
        b = metrics.ndcg_at_k_random_ties(y, p, k)
        pess.append(a.mean())
        rand.append(b.mean())
        dep.append(np.mean(np.abs(a - b) > 1e-12))
      if pess:
        cells[s] = {"pessimistic": tables.summarise(pess),
                    "random_ties": tables.summarise(rand),
                    "tie_dependent": tables.summarise(dep)}
    out["rows"][row] = cells
  return out


def markdown(rep: dict, title: str = "") -> str:
  """One table per scenario: protocol nDCG, random-tie nDCG, tie share."""
  k = rep["k"]
  lines = [f"# {title}", ""] if title else []
  for s in scenarios.SCENARIOS:
    floor = rep["random_floor"][s]
    lines += [f"## {s} (random floor nDCG@{k}: {floor:.4f})", "",
              f"| | nDCG@{k} (protocol: ties pessimistic) | nDCG@{k}, ties in "
              "random order (expected) | query sets whose score depends on "
              "the tie order |", "|---|---|---|---|"]
    for row, cells in rep["rows"].items():
      if s not in cells:
        continue
      c = cells[s]
      mark = lambda v: "" if v > floor else " !"
      pess, rand = c["pessimistic"]["mean"], c["random_ties"]["mean"]
      lines.append(f"| {row} | {pess:.4f}{mark(pess)} | {rand:.4f}{mark(rand)}"
                   f" | {100 * c['tie_dependent']['mean']:.0f}% |")
    lines.append("")
  lines.append("Rows in the order of validation MAE (the selected row "
               "first). `!`: not above the random floor. Means over the "
               "seeds' predictions files.")
  return "\n".join(lines) + "\n"
