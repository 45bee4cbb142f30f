"""Metric values computed by hand, ties included."""

import numpy as np
import pytest

from metarec_jax.evaluation import metrics


def test_mae_rmse_by_hand():
  y = np.array([[1.0, 2.0, 3.0, 4.0]])
  p = np.array([[2.0, 2.0, 1.0, 4.0]])
  m = metrics.compute_metrics(y, p)
  assert m["mae"] == pytest.approx(3.0 / 4)
  assert m["rmse"] == pytest.approx(np.sqrt(5.0 / 4))
  assert m["n_tasks"] == 1 and m["n_ratings"] == 4


def test_ndcg_by_hand():
  # True ratings 3, 5, 1; predicted order: item0 (0.9), item2 (0.5), item1.
  y = np.array([[3.0, 5.0, 1.0]])
  p = np.array([[0.9, 0.1, 0.5]])
  dcg3 = 7 / np.log2(2) + 1 / np.log2(3) + 31 / np.log2(4)
  idcg3 = 31 / np.log2(2) + 7 / np.log2(3) + 1 / np.log2(4)
  assert metrics.ndcg_at_k(y, p, 1)[0] == pytest.approx(7 / 31)
  assert metrics.ndcg_at_k(y, p, 3)[0] == pytest.approx(dcg3 / idcg3)


def test_ties_are_pessimistic():
  y = np.array([[5.0, 1.0, 3.0]])
  constant = np.zeros((1, 3))
  # Worst order: 1, 3, 5.
  worst = (1 / np.log2(2) + 7 / np.log2(3) + 31 / np.log2(4)) / (
      31 / np.log2(2) + 7 / np.log2(3) + 1 / np.log2(4))
  assert metrics.ndcg_at_k(y, constant, 3)[0] == pytest.approx(worst)
  assert metrics.ndcg_at_k(y, constant, 1)[0] == pytest.approx(1 / 31)
  # A partial tie: item 0 and 1 tie on top; the lower true rating goes first.
  p = np.array([[2.0, 2.0, 0.0]])
  assert metrics.ndcg_at_k(y, p, 1)[0] == pytest.approx(1 / 31)


def test_perfect_ranking_scores_one():
  y = np.array([[1.0, 4.0, 2.0, 5.0], [3.0, 3.0, 2.0, 1.0]])
  for k in metrics.NDCG_KS:
    np.testing.assert_allclose(metrics.ndcg_at_k(y, y, k), 1.0)


def test_expected_random_ndcg_matches_enumeration():
  import itertools
  y = np.array([[5.0, 1.0, 3.0, 2.0]])
  for k in (1, 3):
    vals = [metrics.ndcg_at_k(y[:, list(perm)],
                              -np.arange(4.0)[None], k)[0]
            for perm in itertools.permutations(range(4))]
    assert metrics.expected_random_ndcg(y, k)[0] == pytest.approx(
        np.mean(vals))


def test_random_tie_ndcg_matches_enumeration_of_tie_orders():
  import itertools
  # Items 0 and 2 tie on top, item 3 is alone, item 1 last.
  y = np.array([[5.0, 1.0, 3.0, 2.0]])
  p = np.array([[0.8, 0.1, 0.8, 0.5]])
  for k in (1, 2, 3):
    # Both orders of the tied pair, each scored without ties.
    vals = [metrics.ndcg_at_k(y, q, k)[0]
            for q in (np.array([[0.9, 0.1, 0.8, 0.5]]),
                      np.array([[0.8, 0.1, 0.9, 0.5]]))]
    assert metrics.ndcg_at_k_random_ties(y, p, k)[0] == pytest.approx(
        np.mean(vals))
  # Hand value at k = 1: the top position holds gain (31 + 7) / 2.
  assert metrics.ndcg_at_k_random_ties(y, p, 1)[0] == pytest.approx(19 / 31)
  # Pessimistic puts the 3 first: strictly below the expectation.
  assert metrics.ndcg_at_k(y, p, 1)[0] == pytest.approx(7 / 31)
  # A constant predictor gets the random-ranking expectation.
  const = np.zeros((1, 4))
  for k in (1, 3):
    assert metrics.ndcg_at_k_random_ties(y, const, k)[0] == pytest.approx(
        metrics.expected_random_ndcg(y, k)[0])
  # Without ties it is the plain nDCG.
  q = np.array([[0.4, 0.3, 0.9, 0.1]])
  assert metrics.ndcg_at_k_random_ties(y, q, 3)[0] == pytest.approx(
      metrics.ndcg_at_k(y, q, 3)[0])


def test_precision_recall_by_hand_with_ties_and_no_relevant_item():
  # User 0: relevant (>= 4) are items 0 and 2. Items 0 and 1 tie on top:
  # the non-relevant item 1 goes first, so the order is 1, 0, 3, 2.
  # User 1 has no relevant item: precision 0, left out of recall.
  y = np.array([[5.0, 2.0, 4.0, 1.0], [1.0, 2.0, 3.0, 3.0]])
  p = np.array([[0.9, 0.9, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
  m = metrics.compute_metrics(y, p, threshold=4.0)
  assert m["precision@1"] == pytest.approx(0.0)
  assert m["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
  assert m["precision@5"] == pytest.approx((2 / 5 + 0) / 2)  # k > Q: / k.
  assert m["recall@1"] == pytest.approx(0.0)
  assert m["recall@3"] == pytest.approx(1 / 2)
  assert m["recall@5"] == pytest.approx(1.0)
  assert m["n_tasks_no_relevant"] == 1
  # The threshold is inclusive, and it decides what is relevant: at 3,
  # user 1's items 2 and 3 (tied on nothing) are relevant and ranked first.
  m3 = metrics.compute_metrics(y, p, threshold=3.0)
  assert m3["n_tasks_no_relevant"] == 0
  assert m3["precision@1"] == pytest.approx((0 + 1) / 2)
  # Without a threshold, no precision/recall keys.
  assert "precision@1" not in metrics.compute_metrics(y, p)


def test_constant_predictor_gets_the_worst_precision():
  y = np.array([[5.0, 1.0, 4.0, 2.0, 3.0]])
  m = metrics.compute_metrics(y, np.zeros((1, 5)), threshold=4.0)
  # All tied: the 3 non-relevant items first, then the 2 relevant ones.
  assert [m[f"precision@{k}"] for k in (1, 3, 5)] == pytest.approx(
      [0.0, 0.0, 2 / 5])
  assert [m[f"recall@{k}"] for k in (1, 3, 5)] == pytest.approx(
      [0.0, 0.0, 1.0])


def test_expected_random_precision_recall_matches_enumeration():
  import itertools
  y = np.array([[5.0, 1.0, 4.0, 2.0], [4.0, 4.0, 4.0, 1.0],
                [1.0, 2.0, 3.0, 1.0]])
  perms = list(itertools.permutations(range(4)))
  rank = -np.arange(4.0)[None]
  for k in (1, 3, 5):
    want_p, want_r = [], []
    for row in y:
      vals = [metrics.precision_recall_metrics(row[list(perm)][None], rank,
                                               4.0) for perm in perms]
      want_p.append(np.mean([v[f"precision@{k}"] for v in vals]))
      want_r.append(np.mean([v[f"recall@{k}"] for v in vals]))
    got = metrics.precision_recall_metrics(y, np.zeros_like(y), 4.0,
                                           random_ranking=True)
    assert got[f"precision@{k}"] == pytest.approx(np.mean(want_p))
    # Row 2 has no relevant item: out of recall.
    assert got[f"recall@{k}"] == pytest.approx(np.nanmean(want_r))
  # By hand: precision R / Q, recall min(k, Q) / Q.
  got = metrics.precision_recall_metrics(y, np.zeros_like(y), 4.0, True)
  assert got["precision@3"] == pytest.approx((2 / 4 + 3 / 4 + 0) / 3)
  assert got["recall@3"] == pytest.approx(3 / 4)
  assert got["recall@5"] == pytest.approx(1.0)


def test_random_tie_hits_match_enumeration_of_tie_orders():
  # Items 0 and 2 tie on top (one relevant), item 3 alone, item 1 last.
  rel = np.array([[True, False, False, True]])
  p = np.array([[0.8, 0.1, 0.8, 0.5]])
  for k in (1, 2, 3):
    orders = (np.array([[0.9, 0.1, 0.8, 0.5]]), np.array([[0.8, 0.1, 0.9,
                                                           0.5]]))
    want = np.mean([metrics.relevant_in_top_k(rel, q, k)[0] for q in orders])
    assert metrics.relevant_in_top_k_random_ties(rel, p, k)[0] == (
        pytest.approx(want))
  assert metrics.relevant_in_top_k_random_ties(rel, p, 1)[0] == 0.5
  assert metrics.relevant_in_top_k(rel, p, 1)[0] == 0  # Pessimistic.
