"""Two tables of the same rows, cell by cell: what changed and by how much.

A cell is a (row, scenario, metric) mean; it changed when the two differ by
more than 1e-6 (the means are rounded to 6 decimals). Rows are methods and
floors alike; a metric only one of the tables has (a table older than the
metric) is not compared. "max_ndcg" is the largest change of any other
column of tables.METRICS (nDCG, corr, precision, recall, catalogue, the
pessimistic bounds).
"""

from metarec_jax.experiments import tables

RATING = ("mae", "rmse")


def compare(before: dict, after: dict) -> dict:
  """{row: {"changed": n, "cells": n, "max_rating": |d|, "max_ndcg": |d|,
  "validation": [before, after] or None}} for the rows of both tables."""
  out = {}
  for kind in ("methods", "floors"):
    for row in before[kind]:
      if row not in after[kind]:
        continue
      entry = {"changed": 0, "cells": 0, "max_rating": 0.0, "max_ndcg": 0.0}
      for s, metrics in before[kind][row].items():
        for m in tables.METRICS:
          if m not in metrics or m not in after[kind][row][s]:
            continue
          d = abs(metrics[m]["mean"] - after[kind][row][s][m]["mean"])
          entry["cells"] += 1
          entry["changed"] += d > 1e-6 + 1e-12
          key = "max_rating" if m in RATING else "max_ndcg"
          entry[key] = max(entry[key], round(d, 6))
      val = [t.get("validation_mae", {}).get(row) for t in (before, after)]
      entry["validation"] = val if None not in val else None
      out[row] = entry
  return out


def markdown(diff: dict, before: str, after: str) -> str:
  lines = [f"| row | cells changed (of) | max abs. change, MAE/RMSE | max abs. "
           f"change, nDCG | validation MAE, {before} -> {after} |",
           "|---|---|---|---|---|"]
  for row, e in diff.items():
    val = (f"{e['validation'][0]:.6f} -> {e['validation'][1]:.6f}"
           if e["validation"] else "")
    lines.append(f"| {row} | {e['changed']} ({e['cells']}) | "
                 f"{e['max_rating']:.6f} | {e['max_ndcg']:.6f} | {val} |")
  return "\n".join(lines) + "\n"
