"""Metrics recomputed from a predictions CSV without the library's code:
the independent side of the tests that results.json is recomputable from
the CSVs (not a test module).

Ties: the expected values come from each item's chance to hold each rank
of its tie group (a items predicted above it, g predicted equal: it holds
each of the ranks a+1..a+g with probability 1/g), the library's from the
mean value of the ranks a group spans; the pessimistic ones from a Python
sort.
"""

import csv
import math


def read_tasks(path) -> list:
  """[[(rating, prediction), ...] per task], a task being the first
  column's id (a user, or the item of an item task)."""
  tasks = {}
  with open(path) as f:
    reader = csv.DictReader(f)
    for row in reader:  # Ids stay strings.
      tasks.setdefault(row[reader.fieldnames[0]], []).append(
          (float(row["rating"]), float(row["prediction"])))
  return list(tasks.values())


def _disc(rank0: int) -> float:
  return 1 / math.log2(rank0 + 2)


def _expected(items, value, k: int) -> tuple[float, float]:
  """(expected sum of value over the top k, expected sum of value x
  discount over the top k), ties in random order."""
  total = dcg = 0.0
  for y, p in items:
    a = sum(q > p for _, q in items)
    g = sum(q == p for _, q in items)
    ranks = range(a, min(a + g, k))
    total += value(y) * len(ranks) / g
    dcg += value(y) * sum(_disc(r) for r in ranks) / g
  return total, dcg


def _pessimistic(items, value, k: int) -> tuple[float, float]:
  top = sorted(items, key=lambda x: (-x[1], value(x[0])))[:k]
  return (sum(value(y) for y, _ in top),
          sum(value(y) * _disc(r) for r, (y, _) in enumerate(top)))


def _pearson(items) -> float | None:
  """None for constant truth (left out), 0 for constant predictions."""
  ys, ps = [y for y, _ in items], [p for _, p in items]
  if len(set(ys)) == 1:
    return None
  if len(set(ps)) == 1:
    return 0.0
  my, mp = sum(ys) / len(ys), sum(ps) / len(ps)
  cov = sum((y - my) * (p - mp) for y, p in items)
  return cov / math.sqrt(sum((y - my) ** 2 for y in ys)
                         * sum((p - mp) ** 2 for p in ps))


def _mean(values) -> float:
  return sum(values) / len(values) if values else float("nan")


def recompute(path, threshold: float, k: int) -> dict:
  """results.json's ndcg@k, precision@k, recall@k (each also with
  _pessimistic) and corr, from the CSV. Precision and recall: over the
  tasks with a relevant query rating (>= threshold)."""
  tasks = read_tasks(path)
  gain = lambda y: 2 ** y - 1
  rel = lambda y: float(y >= threshold)
  out = {}
  for suffix, rule in (("", _expected), ("_pessimistic", _pessimistic)):
    ndcg, precision, recall = [], [], []
    for items in tasks:
      ideal = sorted((y for y, _ in items), reverse=True)[:k]
      idcg = sum(gain(y) * _disc(r) for r, y in enumerate(ideal))
      ndcg.append(rule(items, gain, k)[1] / idcg if idcg > 0 else 0.0)
      n_rel = sum(rel(y) for y, _ in items)
      if n_rel:
        hits = rule(items, rel, k)[0]
        precision.append(hits / k)
        recall.append(hits / n_rel)
    out[f"ndcg@{k}{suffix}"] = _mean(ndcg)
    out[f"precision@{k}{suffix}"] = _mean(precision)
    out[f"recall@{k}{suffix}"] = _mean(recall)
  corr = [c for c in map(_pearson, tasks) if c is not None]
  out["corr"] = _mean(corr)
  return out
