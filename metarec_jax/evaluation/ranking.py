"""Full-catalogue ranking metrics (docs/protocol.md, "Catalogue ranking").

A user's candidates are ranked by score; positives are the user's relevant
query items. Inputs are a score matrix over a scenario's item pool, scores
[T, C] with -inf where an item is not a candidate for that user (an item
the user already rated), and positive bool [T, C]. Ties count at their
expectation over random orders of the tied items (ties.py), so a constant
scorer gets exactly the random floor; the pessimistic order (positives after
the non-positives scored the same) is the bound reported under the same key
with metrics.PESSIMISTIC appended. recall@k = positives in the top k /
positives; nDCG@k with binary gain divides the DCG of the positives' ranks
by the DCG of all positives ranked first. A user without a positive has no
value (NaN) and is left out of the means.
"""

import numpy as np

from metarec_jax.evaluation import metrics, ties

RECALL_KS = (10, 20)
NDCG_KS = (10,)
EXPECTED_KEYS = (tuple(f"catalogue_recall@{k}" for k in RECALL_KS)
                 + tuple(f"catalogue_ndcg@{k}" for k in NDCG_KS))
PESSIMISTIC_KEYS = tuple(k + metrics.PESSIMISTIC for k in EXPECTED_KEYS)
KEYS = EXPECTED_KEYS + PESSIMISTIC_KEYS


def _discounts(n: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(2, n + 2))


def _ideal_dcg(n_positive: np.ndarray, k: int) -> np.ndarray:
  """DCG@k of the n positives ranked first, [T]."""
  cum = np.concatenate([[0.0], np.cumsum(_discounts(k))])
  return cum[np.minimum(n_positive, k)]


def _from_top(top: np.ndarray, n_pos: np.ndarray, suffix: str) -> dict:
  """The KEYS ending in suffix from the (expected) positives at the top
  positions, top [T, <= max k]."""
  has = n_pos > 0
  out = {}
  for k in RECALL_KS:
    hits = top[:, :k].sum(-1)
    out[f"catalogue_recall@{k}{suffix}"] = np.where(
        has, hits / np.maximum(n_pos, 1), np.nan)
  for k in NDCG_KS:
    dcg = (top[:, :k] * _discounts(top[:, :k].shape[1])).sum(-1)
    idcg = _ideal_dcg(n_pos, k)
    out[f"catalogue_ndcg@{k}{suffix}"] = np.where(
        has, dcg / np.where(has, idcg, 1.0), np.nan)
  return out


def per_user(scores: np.ndarray, positive: np.ndarray) -> dict:
  """{key: [T]} for every key of KEYS; NaN for a user without a positive."""
  positive = np.asarray(positive, bool)
  kmax = max(RECALL_KS + NDCG_KS)
  n_pos = positive.sum(-1)
  return {**_from_top(ties.expected_top(positive, scores, kmax), n_pos, ""),
          **_from_top(ties.pessimistic_top(positive, scores, kmax), n_pos,
                      metrics.PESSIMISTIC)}


def expected_random(n_candidates: np.ndarray, n_positive: np.ndarray
                    ) -> dict:
  """per_user's values in exact expectation over uniformly random rankings
  of each user's n_candidates items, n_positive of them positive: each of
  the top min(k, C) positions holds a positive with probability P / C. A
  random ranking has no ties: the pessimistic keys get the same values."""
  c = np.asarray(n_candidates, np.float64)
  p = np.asarray(n_positive, np.int64)
  has = p > 0
  safe_c = np.maximum(c, 1.0)
  out = {}
  for k in RECALL_KS:
    out[f"catalogue_recall@{k}"] = np.where(has, np.minimum(k, c) / safe_c,
                                            np.nan)
  cum = np.concatenate([[0.0], np.cumsum(_discounts(max(NDCG_KS)))])
  for k in NDCG_KS:
    top = cum[np.minimum(c, k).astype(np.int64)]
    edcg = p / safe_c * top
    idcg = _ideal_dcg(p, k)
    out[f"catalogue_ndcg@{k}"] = np.where(has, edcg / np.where(has, idcg, 1.0),
                                          np.nan)
  return {**out, **{k + metrics.PESSIMISTIC: v for k, v in out.items()}}


def summarise(per_user_values: list) -> dict:
  """[{key: [n]}] over user batches -> {key: mean over the users with a
  value} (those without a positive are precision_recall_metrics'
  n_tasks_no_relevant)."""
  out = {}
  for key in KEYS:
    v = (np.concatenate([d[key] for d in per_user_values])
         if per_user_values else np.zeros(0))
    kept = v[~np.isnan(v)]
    out[key] = float(kept.mean()) if len(kept) else float("nan")
  return out
