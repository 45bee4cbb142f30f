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
