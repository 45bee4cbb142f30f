"""Rating and ranking metrics over query sets, as docs/protocol.md defines them.

Computed on the host in numpy from (rating, prediction) arrays, so that the
numbers in results.json are exactly what anyone recomputes from the
predictions CSVs. Ties in the prediction are broken pessimistically: among
equal predictions the item with the lower true rating ranks first, so a
constant predictor gets the worst case, not a lucky one.
"""

import numpy as np

NDCG_KS = (1, 3, 5)
METRIC_KEYS = ("mae", "rmse") + tuple(f"ndcg@{k}" for k in NDCG_KS)


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


def compute_metrics(ratings: np.ndarray, predictions: np.ndarray,
                    random_ranking: bool = False) -> dict:
  """All metrics for one scenario. ratings, predictions: [users, Q]."""
  ratings = np.asarray(ratings, np.float64)
  err = np.asarray(predictions, np.float64) - ratings
  out = {"mae": float(np.abs(err).mean()) if err.size else float("nan"),
         "rmse": float(np.sqrt((err ** 2).mean())) if err.size else float("nan")}
  for k in NDCG_KS:
    per_user = (expected_random_ndcg(ratings, k) if random_ranking
                else ndcg_at_k(ratings, predictions, k))
    out[f"ndcg@{k}"] = float(per_user.mean()) if len(per_user) else float("nan")
  out["n_tasks"] = int(ratings.shape[0])
  out["n_ratings"] = int(ratings.size)
  return out
