"""Rating and ranking metrics over query sets, as docs/protocol.md defines them.

Computed on the host in numpy from (rating, prediction) arrays, so that the
numbers in results.json are exactly what anyone recomputes from the
predictions CSVs. Ranking metrics count ties at their expectation over
random orders of the tied items (ties.py), every row alike: a constant
predictor gets exactly the random floor. The pessimistic order (among equal
predictions the lower true rating first) is reported beside them as a lower
bound, under the same key with PESSIMISTIC appended.
"""

import numpy as np

from metarec_jax.evaluation import ties as tie_rules

NDCG_KS = (1, 3, 5)
PR_KS = (1, 3, 5)
PESSIMISTIC = "_pessimistic"
NDCG_KEYS = tuple(f"ndcg@{k}" for k in NDCG_KS)
METRIC_KEYS = ("mae", "rmse") + NDCG_KEYS
PR_KEYS = (tuple(f"precision@{k}" for k in PR_KS)
           + tuple(f"recall@{k}" for k in PR_KS))
PESSIMISTIC_KEYS = tuple(k + PESSIMISTIC for k in NDCG_KEYS + PR_KEYS)
CORR = "corr"
# Tasks left out of a metric: no relevant query item (precision and
# recall), all query ratings equal (corr).
COUNTS = ("n_tasks_no_relevant", "n_tasks_constant_truth")


def _discounts(n: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(2, n + 2))


def _top(values, predictions, k: int, rule: str) -> np.ndarray:
  if rule not in tie_rules.RULES:
    raise ValueError(f"ties={rule!r}: choose from {tuple(tie_rules.RULES)}")
  return tie_rules.RULES[rule](values, predictions, k)


def _ideal_dcg(gain: np.ndarray, k: int) -> np.ndarray:
  ideal = -np.sort(-gain, axis=-1)[:, :k]
  return (ideal * _discounts(ideal.shape[1])).sum(-1)


def _ratio(dcg: np.ndarray, idcg: np.ndarray) -> np.ndarray:
  return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)


def ndcg_at_k(ratings: np.ndarray, predictions: np.ndarray, k: int,
              ties: str = "expected") -> np.ndarray:
  """Per-user nDCG@k, gain 2^r - 1 of the true rating r. ratings,
  predictions: [users, Q]. Returns [users]. ties: "expected" or
  "pessimistic" (ties.py)."""
  gain = 2.0 ** np.asarray(ratings, np.float64) - 1.0
  top = _top(gain, predictions, k, ties)
  return _ratio((top * _discounts(top.shape[1])).sum(-1), _ideal_dcg(gain, k))


def expected_random_ndcg(ratings: np.ndarray, k: int) -> np.ndarray:
  """Exact expectation of nDCG@k under a uniformly random ranking.

  Each position holds each item with probability 1/Q, so the expected gain
  at any position is the mean gain of the query set.
  """
  gain = 2.0 ** np.asarray(ratings, np.float64) - 1.0
  kk = min(k, gain.shape[1])
  return _ratio(gain.mean(-1) * _discounts(kk).sum(), _ideal_dcg(gain, kk))


def relevant_in_top_k(relevant: np.ndarray, predictions: np.ndarray,
                      k: int, ties: str = "expected") -> np.ndarray:
  """Per-user count of relevant items among the top k by prediction
  (expected or pessimistic: non-relevant items first among ties).
  relevant: bool [users, Q]; predictions: [users, Q]. Returns [users]."""
  return _top(np.asarray(relevant, np.float64), predictions, k, ties).sum(-1)


def expected_random_hits(relevant: np.ndarray, k: int) -> np.ndarray:
  """Exact expected relevant_in_top_k under a uniformly random ranking:
  each of the min(k, Q) top positions holds a relevant item with
  probability R / Q."""
  relevant = np.asarray(relevant, bool)
  q = relevant.shape[1]
  return min(k, q) * relevant.sum(-1) / max(q, 1)


def precision_recall(hits: np.ndarray, n_relevant: np.ndarray, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
  """Per-user precision@k = hits / k and recall@k = hits / relevant items;
  both NaN for a user without a relevant item (left out of both)."""
  hits = np.asarray(hits, np.float64)
  has = np.asarray(n_relevant) > 0
  recall = np.where(has, hits / np.maximum(n_relevant, 1), np.nan)
  return np.where(has, hits / k, np.nan), recall


def correlation(ratings: np.ndarray, predictions: np.ndarray) -> np.ndarray:
  """Per-user Pearson correlation of predictions and true ratings [users].

  NaN for a user whose true ratings are all equal (left out); 0 for one
  whose predictions are all equal (no ranking information).
  """
  y = np.asarray(ratings, np.float64)
  p = np.asarray(predictions, np.float64)
  yc = y - y.mean(-1, keepdims=True)
  pc = p - p.mean(-1, keepdims=True)
  sy = np.sqrt((yc ** 2).sum(-1))
  sp = np.sqrt((pc ** 2).sum(-1))
  # Exact equality, not a tolerance: a constant row centres to zeros.
  y_const = (y == y[:, :1]).all(-1)
  p_const = (p == p[:, :1]).all(-1)
  ok = ~y_const & ~p_const
  r = (yc * pc).sum(-1) / np.where(ok, sy * sp, 1.0)
  return np.where(y_const, np.nan, np.where(p_const, 0.0, r))


def _mean(per_user: np.ndarray) -> float:
  """Mean over the users with a value (NaN marks a user left out)."""
  kept = per_user[~np.isnan(per_user)]
  return float(kept.mean()) if len(kept) else float("nan")


def precision_recall_metrics(ratings: np.ndarray, predictions: np.ndarray,
                             threshold: float, random_ranking: bool = False
                             ) -> dict:
  """{precision@k, recall@k, their PESSIMISTIC bounds, n_tasks_no_relevant}
  for k in PR_KS.

  Relevant = true rating >= threshold. A user without a relevant query item
  is left out of precision and recall alike; how many were left out is
  n_tasks_no_relevant. random_ranking: the expectation under a uniformly
  random ranking (a ranking without ties: both keys get it).
  """
  relevant = np.asarray(ratings, np.float64) >= threshold
  n_relevant = relevant.sum(-1)
  out = {}
  for rule, suffix in (("expected", ""), ("pessimistic", PESSIMISTIC)):
    for k in PR_KS:
      hits = (expected_random_hits(relevant, k) if random_ranking
              else relevant_in_top_k(relevant, predictions, k, rule))
      precision, recall = precision_recall(hits, n_relevant, k)
      out[f"precision@{k}{suffix}"] = _mean(precision)
      out[f"recall@{k}{suffix}"] = _mean(recall)
  out["n_tasks_no_relevant"] = int((n_relevant == 0).sum())
  return out


def _ndcg_metrics(ratings, predictions, random_ranking: bool) -> dict:
  out = {}
  for k in NDCG_KS:
    for rule, suffix in (("expected", ""), ("pessimistic", PESSIMISTIC)):
      per_user = (expected_random_ndcg(ratings, k) if random_ranking
                  else ndcg_at_k(ratings, predictions, k, rule))
      out[f"ndcg@{k}{suffix}"] = (float(per_user.mean()) if len(per_user)
                                  else float("nan"))
  return out


def compute_metrics(ratings: np.ndarray, predictions: np.ndarray,
                    random_ranking: bool = False,
                    threshold: float | None = None) -> dict:
  """All metrics for one scenario. ratings, predictions: [users, Q].

  With a relevance threshold, precision@k and recall@k too
  (precision_recall_metrics). random_ranking: the ranking metrics are the
  exact expectation under a uniformly random ranking (the random floor),
  and corr its expectation, 0.
  """
  ratings = np.asarray(ratings, np.float64)
  err = np.asarray(predictions, np.float64) - ratings
  out = {"mae": float(np.abs(err).mean()) if err.size else float("nan"),
         "rmse": float(np.sqrt((err ** 2).mean())) if err.size else float("nan")}
  out.update(_ndcg_metrics(ratings, predictions, random_ranking))
  corr = correlation(ratings, predictions)
  out[CORR] = _mean(np.where(np.isnan(corr), np.nan, 0.0) if random_ranking
                    else corr)
  out["n_tasks_constant_truth"] = int(np.isnan(corr).sum())
  if threshold is not None:
    out.update(precision_recall_metrics(ratings, predictions, threshold,
                                        random_ranking))
  out["n_tasks"] = int(ratings.shape[0])
  out["n_ratings"] = int(ratings.size)
  return out
