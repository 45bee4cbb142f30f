"""Metrics recomputed from a predictions CSV without the library's code:
the independent side of the tests that results.json is recomputable from
the CSVs (not a test module)."""

import csv

import numpy as np


def precision_recall(path, threshold: float, k: int) -> tuple[float, float]:
  """precision@k, recall@k: per task (the first column: a user, or the
  item of an item task), a Python sort by (prediction descending, relevant
  last among ties); recall over tasks with a relevant query rating."""
  users = {}
  with open(path) as f:
    reader = csv.DictReader(f)
    for row in reader:  # Ids stay strings.
      users.setdefault(row[reader.fieldnames[0]], []).append(
          (float(row["prediction"]), float(row["rating"]) >= threshold))
  precision, recall = [], []
  for items in users.values():
    top = sorted(items, key=lambda x: (-x[0], x[1]))[:k]
    hits = sum(rel for _, rel in top)
    n_rel = sum(rel for _, rel in items)
    precision.append(hits / k)
    if n_rel:
      recall.append(hits / n_rel)
  return float(np.mean(precision)), float(np.mean(recall))
