"""Rating and ranking metrics over query sets, as docs/protocol.md defines them.

Computed on the host in numpy from (rating, prediction) arrays, so that the
numbers in results.json are exactly what anyone recomputes from the
predictions CSVs. Ties in the prediction are broken pessimistically: among
equal predictions the item with the lower true rating (for precision and
recall: the non-relevant item) ranks first, so a constant predictor gets the
worst case, not a lucky one.
"""

import numpy as np

NDCG_KS = (1, 3, 5)
PR_KS = (1, 3, 5)
METRIC_KEYS = ("mae", "rmse") + tuple(f"ndcg@{k}" for k in NDCG_KS)
PR_KEYS = (tuple(f"precision@{k}" for k in PR_KS)
           + tuple(f"recall@{k}" for k in PR_KS))


def _discounts(n: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(2, n + 2))


def ndcg_at_k(ratings: np.ndarray, predictions: np.ndarray, k: int
              ) -> np.ndarray:
  """Per-user nDCG@k. ratings, predictions: [users, Q]. Returns [users]."""
  ratings = np.asarray(ratings, np.float64)
  predictions = np.asarray(predictions, np.float64)
  # lexsort sorts by the last key first: prediction descending, then true
  # rating ascending (the pessimistic tie rule).
  order = np.lexsort((ratings, -predictions), axis=-1)
  ranked = np.take_along_axis(ratings, order, axis=-1)[:, :k]
  ideal = -np.sort(-ratings, axis=-1)[:, :k]
  disc = _discounts(ranked.shape[1])
  dcg = ((2.0 ** ranked - 1.0) * disc).sum(-1)
  idcg = ((2.0 ** ideal - 1.0) * disc).sum(-1)
  return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)


def expected_random_ndcg(ratings: np.ndarray, k: int) -> np.ndarray:
  """Exact expectation of nDCG@k under a uniformly random ranking.

  Each position holds each item with probability 1/Q, so the expected gain
  at any position is the mean gain of the query set.
  """
  ratings = np.asarray(ratings, np.float64)
  mean_gain = (2.0 ** ratings - 1.0).mean(-1)
  kk = min(k, ratings.shape[1])
  edcg = mean_gain * _discounts(kk).sum()
  ideal = -np.sort(-ratings, axis=-1)[:, :kk]
  idcg = ((2.0 ** ideal - 1.0) * _discounts(kk)).sum(-1)
  return np.where(idcg > 0, edcg / np.where(idcg > 0, idcg, 1.0), 0.0)


def ndcg_at_k_random_ties(ratings: np.ndarray, predictions: np.ndarray,
                          k: int) -> np.ndarray:
  """Per-user nDCG@k in expectation over random orders of tied predictions.

  A diagnostic beside the protocol's pessimistic ndcg_at_k, not a
  replacement: it shows how much of a score comes from tie-breaking. Items
  a model predicts equal fill the positions their group spans in some
  random order, so each of those positions holds the group's mean gain in
  expectation. A constant predictor gets expected_random_ndcg; a predictor
  without ties gets ndcg_at_k.
  """
  ratings = np.asarray(ratings, np.float64)
  predictions = np.asarray(predictions, np.float64)
  gain = 2.0 ** ratings - 1.0
  same = predictions[..., :, None] == predictions[..., None, :]  # [U, Q, Q]
  group_gain = (same * gain[..., None, :]).sum(-1) / same.sum(-1)
  order = np.argsort(-predictions, axis=-1, kind="stable")
  expected = np.take_along_axis(group_gain, order, axis=-1)[:, :k]
  ideal = -np.sort(-gain, axis=-1)[:, :k]
  disc = _discounts(expected.shape[1])
  dcg, idcg = (expected * disc).sum(-1), (ideal * disc).sum(-1)
  return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)


def relevant_in_top_k(relevant: np.ndarray, predictions: np.ndarray,
                      k: int) -> np.ndarray:
  """Per-user count of relevant items among the top k by prediction.

  relevant: bool [users, Q]; predictions: [users, Q]. Ties pessimistic:
  among equal predictions the non-relevant items rank first.
  """
  relevant = np.asarray(relevant, bool)
  order = np.lexsort((relevant.astype(np.int8),
                      -np.asarray(predictions, np.float64)), axis=-1)
  return np.take_along_axis(relevant, order, axis=-1)[:, :k].sum(-1)


def relevant_in_top_k_random_ties(relevant: np.ndarray,
                                  predictions: np.ndarray, k: int
                                  ) -> np.ndarray:
  """relevant_in_top_k in expectation over random orders of tied
  predictions (a diagnostic, as ndcg_at_k_random_ties): each position a
  tie group spans holds the group's share of relevant items."""
  rel = np.asarray(relevant, np.float64)
  predictions = np.asarray(predictions, np.float64)
  same = predictions[..., :, None] == predictions[..., None, :]  # [U, Q, Q]
  group_rel = (same * rel[..., None, :]).sum(-1) / same.sum(-1)
  order = np.argsort(-predictions, axis=-1, kind="stable")
  return np.take_along_axis(group_rel, order, axis=-1)[:, :k].sum(-1)


def precision_recall(hits: np.ndarray, n_relevant: np.ndarray, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
  """Per-user precision@k = hits / k and recall@k = hits / relevant items
  (NaN for a user without one: such users are left out of recall)."""
  hits = np.asarray(hits, np.float64)
  n_relevant = np.asarray(n_relevant, np.float64)
  recall = np.where(n_relevant > 0, hits / np.maximum(n_relevant, 1), np.nan)
  return hits / k, recall


def expected_random_hits(relevant: np.ndarray, k: int) -> np.ndarray:
  """Exact expected relevant_in_top_k under a uniformly random ranking:
  each of the min(k, Q) top positions holds a relevant item with
  probability R / Q."""
  relevant = np.asarray(relevant, bool)
  q = relevant.shape[1]
  return min(k, q) * relevant.sum(-1) / max(q, 1)


def _mean(per_user: np.ndarray) -> float:
  """Mean over the users with a value (NaN marks a user left out)."""
  kept = per_user[~np.isnan(per_user)]
  return float(kept.mean()) if len(kept) else float("nan")


def precision_recall_metrics(ratings: np.ndarray, predictions: np.ndarray,
                             threshold: float, random_ranking: bool = False
                             ) -> dict:
  """{precision@k, recall@k, n_tasks_no_relevant} for k in PR_KS.

  Relevant = true rating >= threshold. A user without a relevant query item
  counts in precision (0) and is left out of recall; how many were left out
  is n_tasks_no_relevant.
  """
  relevant = np.asarray(ratings, np.float64) >= threshold
  n_relevant = relevant.sum(-1)
  out = {}
  for k in PR_KS:
    hits = (expected_random_hits(relevant, k) if random_ranking
            else relevant_in_top_k(relevant, predictions, k))
    precision, recall = precision_recall(hits, n_relevant, k)
    out[f"precision@{k}"] = _mean(precision)
    out[f"recall@{k}"] = _mean(recall)
  out["n_tasks_no_relevant"] = int((n_relevant == 0).sum())
  return out


def compute_metrics(ratings: np.ndarray, predictions: np.ndarray,
                    random_ranking: bool = False,
                    threshold: float | None = None) -> dict:
  """All metrics for one scenario. ratings, predictions: [users, Q].

  With a relevance threshold, precision@k and recall@k too
  (precision_recall_metrics). random_ranking: the ranking metrics are the
  exact expectation under a uniformly random ranking (the random floor).
  """
  ratings = np.asarray(ratings, np.float64)
  err = np.asarray(predictions, np.float64) - ratings
  out = {"mae": float(np.abs(err).mean()) if err.size else float("nan"),
         "rmse": float(np.sqrt((err ** 2).mean())) if err.size else float("nan")}
  for k in NDCG_KS:
    per_user = (expected_random_ndcg(ratings, k) if random_ranking
                else ndcg_at_k(ratings, predictions, k))
    out[f"ndcg@{k}"] = float(per_user.mean()) if len(per_user) else float("nan")
  if threshold is not None:
    out.update(precision_recall_metrics(ratings, predictions, threshold,
                                        random_ranking))
  out["n_tasks"] = int(ratings.shape[0])
  out["n_ratings"] = int(ratings.size)
  return out
