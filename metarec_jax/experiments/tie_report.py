"""How much of a table's ranking metrics depends on how ties are broken.

docs/protocol.md counts tied predictions at their expectation over random
orders of the ties, and reports the pessimistic order (lower true rating
first) as a lower bound: results.json holds both. Items with identical
features get identical predictions from any model without an item-specific
input: on ML-100K new items differ only in genres and release-year bucket,
so in item_cold many query sets of the non-text rows hold ties, and the two
rules differ. This report reads a table's predictions files and puts, per
row and scenario, nDCG@k under both rules beside the share of query sets
whose nDCG@k depends on the tie order, and the same two values of
precision@k and recall@k (relevant: a rating >= the runs' relevance
threshold; both over the users with a relevant item). It changes no table
number and selects nothing.

Input: W/runs/<row>/seed<s>/predictions_<scenario>.csv (columns
user_id,item_id,rating,prediction, one row per query rating, a user's rows
together) and W/table.json for the random floor.
"""

import json
import pathlib
import re

import numpy as np

from metarec_jax.core.errors import DataError
from metarec_jax.data import scenarios
from metarec_jax.evaluation import evaluate, metrics, predictions_csv
from metarec_jax.experiments import tables


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


def _threshold(folder) -> float:
  """The relevance threshold of a run (the default for runs older than
  the field)."""
  path = pathlib.Path(folder) / "results.json"
  if not path.exists():
    return evaluate.DEFAULT_RELEVANCE
  with open(path) as f:
    results = json.load(f)
  return float(results.get("relevance_threshold", results.get(
      "config", {}).get("data", {}).get("relevance_threshold",
                                        evaluate.DEFAULT_RELEVANCE)))


def _precision_recall(y, p, k: int, threshold: float) -> dict:
  """{precision, recall}_{pessimistic, random_ties}: the protocol's means
  (over the users with a relevant item)."""
  m = metrics.precision_recall_metrics(y, p, threshold)
  return {f"{name}_{tie}": m[f"{name}@{k}{suffix}"]
          for name in ("precision", "recall")
          for tie, suffix in (("pessimistic", metrics.PESSIMISTIC),
                              ("random_ties", ""))}


def report(workdir, k: int = 3) -> dict:
  """{"k", "random_floor": {S: mean}, "random_floor_pr": {S: {"precision",
  "recall"}} (where table.json has them), "rows": {row: {S: {"pessimistic",
  "random_ties", "tie_dependent", "precision_pessimistic",
  "precision_random_ties", "recall_pessimistic", "recall_random_ties":
  summaries over seeds}}}}; rows ordered by validation MAE."""
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
  rand_floor = table["floors"]["random"]
  out = {"k": k, "rows": {}, "random_floor": {
      s: rand_floor[s][key]["mean"] for s in scenarios.SCENARIOS},
         "random_floor_pr": {
             s: {m: rand_floor[s][f"{m}@{k}"]["mean"]
                 for m in ("precision", "recall")}
             for s in scenarios.SCENARIOS
             if f"precision@{k}" in rand_floor[s]}}
  runs = _runs(workdir)
  # Rows in the selection's order (best validation MAE first), then any
  # others the workdir holds (the ensemble has no validation score).
  val = table.get("validation_mae", {})
  order = [r for r in sorted(val, key=val.get) if r in runs]
  for row in order + sorted(set(runs) - set(order)):
    seeds = runs[row]
    cells = {}
    for s in scenarios.SCENARIOS:
      pess, rand, dep, pr = [], [], [], []
      for seed in sorted(seeds):
        path = seeds[seed] / f"predictions_{s}.csv"
        if not path.exists():
          continue
        y, p = predictions_csv.read_predictions(path)
        a = metrics.ndcg_at_k(y, p, k, ties="pessimistic")
        b = metrics.ndcg_at_k(y, p, k)
        pess.append(a.mean())
        rand.append(b.mean())
        dep.append(np.mean(np.abs(a - b) > 1e-12))
        pr.append(_precision_recall(y, p, k, _threshold(seeds[seed])))
      if pess:
        cells[s] = {"pessimistic": tables.summarise(pess),
                    "random_ties": tables.summarise(rand),
                    "tie_dependent": tables.summarise(dep),
                    **{m: tables.summarise([v[m] for v in pr])
                       for m in pr[0]}}
    out["rows"][row] = cells
  return out


def _pr_block(rep: dict, s: str) -> list[str]:
  """Precision@k and recall@k, ties pessimistic and in random order."""
  k = rep["k"]
  rows = [(row, cells[s]) for row, cells in rep["rows"].items()
          if s in cells and "precision_pessimistic" in cells[s]]
  if not rows:
    return []
  floor = rep.get("random_floor_pr", {}).get(s)
  note = (f" (random floor: {floor['precision']:.4f}, {floor['recall']:.4f})"
          if floor else "")
  lines = [f"### {s}: precision@{k} and recall@{k}{note}", "",
           f"| | precision@{k}, ties pessimistic | precision@{k}, ties in "
           f"random order | recall@{k}, ties pessimistic | recall@{k}, ties "
           "in random order |", "|---|---|---|---|---|"]
  for row, c in rows:
    cells = []
    for m in ("precision", "recall"):
      for tie in ("pessimistic", "random_ties"):
        v = c[f"{m}_{tie}"]["mean"]
        mark = "" if floor is None or v > floor[m] else " !"
        cells.append(f"{v:.4f}{mark}")
    lines.append(f"| {row} | " + " | ".join(cells) + " |")
  return lines + [""]


def markdown(rep: dict, title: str = "") -> str:
  """Per scenario: protocol nDCG, random-tie nDCG, tie share; then
  precision and recall both ways."""
  k = rep["k"]
  lines = [f"# {title}", ""] if title else []
  for s in scenarios.SCENARIOS:
    floor = rep["random_floor"][s]
    lines += [f"## {s} (random floor nDCG@{k}: {floor:.4f})", "",
              f"| | nDCG@{k}, ties pessimistic (the bound) | nDCG@{k}, ties "
              "in random order (protocol: expected) | query sets whose score "
              "depends on the tie order |", "|---|---|---|---|"]
    for row, cells in rep["rows"].items():
      if s not in cells:
        continue
      c = cells[s]
      mark = lambda v: "" if v > floor else " !"
      pess, rand = c["pessimistic"]["mean"], c["random_ties"]["mean"]
      lines.append(f"| {row} | {pess:.4f}{mark(pess)} | {rand:.4f}{mark(rand)}"
                   f" | {100 * c['tie_dependent']['mean']:.0f}% |")
    lines.append("")
    lines += _pr_block(rep, s)
  lines.append("Rows in the order of validation MAE (the selected row "
               "first). `!`: not above the random floor. Means over the "
               "seeds' predictions files.")
  return "\n".join(lines) + "\n"
