"""Metric values computed by hand, ties included: expected over random
orders of the ties (the protocol), pessimistic (the bound), and a brute
force over every order of the tied items."""

import itertools

import numpy as np
import pytest

from metarec_jax.evaluation import metrics

L3 = np.log2(3)


def test_mae_rmse_by_hand():
  y = np.array([[1.0, 2.0, 3.0, 4.0]])
  p = np.array([[2.0, 2.0, 1.0, 4.0]])
  m = metrics.compute_metrics(y, p)
  assert m["mae"] == pytest.approx(3.0 / 4)
  assert m["rmse"] == pytest.approx(np.sqrt(5.0 / 4))
  assert m["n_tasks"] == 1 and m["n_ratings"] == 4


def test_ndcg_without_ties_is_the_plain_sort_under_both_rules():
  # True ratings 3, 5, 1; predicted order: item0 (0.9), item2 (0.5), item1.
  y = np.array([[3.0, 5.0, 1.0]])
  p = np.array([[0.9, 0.1, 0.5]])
  dcg3 = 7 / np.log2(2) + 1 / np.log2(3) + 31 / np.log2(4)
  idcg3 = 31 / np.log2(2) + 7 / np.log2(3) + 1 / np.log2(4)
  for rule in ("expected", "pessimistic"):
    assert metrics.ndcg_at_k(y, p, 1, rule)[0] == pytest.approx(7 / 31)
    assert metrics.ndcg_at_k(y, p, 3, rule)[0] == pytest.approx(dcg3 / idcg3)
  with pytest.raises(ValueError, match="ties='lucky'"):
    metrics.ndcg_at_k(y, p, 1, "lucky")


def test_a_tie_group_straddling_the_cut_by_hand():
  # Item 0 alone on top; items 1, 2, 3 (gains 7, 1, 3) tie for ranks 2-4,
  # so at k = 2 the tie is cut: rank 2 holds their mean gain 11 / 3.
  y = np.array([[5.0, 3.0, 1.0, 2.0]])
  p = np.array([[0.9, 0.5, 0.5, 0.5]])
  idcg2 = 31 + 7 / L3
  assert metrics.ndcg_at_k(y, p, 2)[0] == pytest.approx(
      (31 + 11 / 3 / L3) / idcg2)
  # Pessimistic: the rating 1 takes rank 2.
  assert metrics.ndcg_at_k(y, p, 2, "pessimistic")[0] == pytest.approx(
      (31 + 1 / L3) / idcg2)
  # Relevant (>= 3): items 0 and 1; 1 of the 3 tied items is relevant.
  m = metrics.compute_metrics(y, p, threshold=3.0)
  assert m["precision@1"] == pytest.approx(1.0)
  assert m["ndcg@1"] == pytest.approx(1.0)
  # k = 3: rank 1 and two of the three tied ranks: 1 + 2 / 3 hits.
  assert m["precision@3"] == pytest.approx((1 + 2 / 3) / 3)
  assert m["recall@3"] == pytest.approx((1 + 2 / 3) / 2)
  assert m["precision@3_pessimistic"] == pytest.approx(1 / 3)
  assert m["recall@3_pessimistic"] == pytest.approx(1 / 2)
  # k = 5 > Q: everything is in; precision divides by k.
  assert m["recall@5"] == pytest.approx(1.0)
  assert m["recall@5_pessimistic"] == pytest.approx(1.0)
  assert m["precision@5"] == pytest.approx(2 / 5)


def test_two_tie_groups_by_hand():
  # Items 0 and 2 tie on top (gains 31, 7), item 3 alone, item 1 last.
  y = np.array([[5.0, 1.0, 3.0, 2.0]])
  p = np.array([[0.8, 0.1, 0.8, 0.5]])
  assert metrics.ndcg_at_k(y, p, 1)[0] == pytest.approx(19 / 31)
  assert metrics.ndcg_at_k(y, p, 1, "pessimistic")[0] == pytest.approx(
      7 / 31)
  # Both tied ranks are within k = 2: the order does not matter.
  assert metrics.ndcg_at_k(y, p, 2)[0] == pytest.approx(
      (19 + 19 / L3) / (31 + 7 / L3))


def test_all_tied_is_the_random_expectation():
  # A constant predictor is the all-tied case: it gets exactly what the
  # random floor is given, for nDCG, precision and recall.
  y = np.array([[5.0, 1.0, 3.0, 2.0, 4.0], [4.0, 4.0, 1.0, 2.0, 2.0]])
  const = np.full_like(y, 3.0)
  tied = metrics.compute_metrics(y, const, threshold=4.0)
  floor = metrics.compute_metrics(y, const, random_ranking=True,
                                  threshold=4.0)
  for key in metrics.NDCG_KEYS + metrics.PR_KEYS:
    assert tied[key] == pytest.approx(floor[key]), key
  for k in metrics.NDCG_KS:
    np.testing.assert_allclose(metrics.ndcg_at_k(y, const, k),
                               metrics.expected_random_ndcg(y, k))
  # The random floor's bound is its expectation (a random ranking has no
  # ties); the constant predictor's bound is the worst order.
  assert floor["ndcg@1_pessimistic"] == floor["ndcg@1"]
  assert tied["ndcg@1_pessimistic"] == pytest.approx((1 / 31 + 1 / 15) / 2)


def _brute(y_row, p_row, k, threshold):
  """(nDCG@k, hits@k) averaged over every order of the items as the
  tie-break: each permutation ranks by (-prediction, its own order)."""
  q = len(y_row)
  ideal = sorted(y_row, reverse=True)
  idcg = sum((2 ** r - 1) / np.log2(i + 2) for i, r in enumerate(ideal[:k]))
  ndcgs, hits = [], []
  for perm in itertools.permutations(range(q)):
    ranked = sorted(range(q), key=lambda i: (-p_row[i], perm[i]))[:k]
    dcg = sum((2 ** y_row[i] - 1) / np.log2(r + 2)
              for r, i in enumerate(ranked))
    ndcgs.append(dcg / idcg if idcg > 0 else 0.0)
    hits.append(sum(y_row[i] >= threshold for i in ranked))
  return np.mean(ndcgs), np.mean(hits)


def test_expected_ties_match_every_order_of_the_ties():
  rng = np.random.default_rng(0)
  for _ in range(12):
    q = int(rng.integers(2, 7))
    y = rng.integers(1, 6, (1, q)).astype(float)
    p = rng.integers(0, 3, (1, q)).astype(float)  # Many ties.
    for k in (1, 2, 3, 5):
      ndcg, hits = _brute(y[0].tolist(), p[0].tolist(), k, 4.0)
      assert metrics.ndcg_at_k(y, p, k)[0] == pytest.approx(ndcg), (y, p, k)
      assert metrics.relevant_in_top_k(y >= 4.0, p, k)[0] == pytest.approx(
          hits)


def test_expected_random_ndcg_matches_enumeration():
  y = np.array([[5.0, 1.0, 3.0, 2.0]])
  for k in (1, 3):
    vals = [metrics.ndcg_at_k(y[:, list(perm)], -np.arange(4.0)[None], k)[0]
            for perm in itertools.permutations(range(4))]
    assert metrics.expected_random_ndcg(y, k)[0] == pytest.approx(
        np.mean(vals))


def test_precision_and_recall_leave_out_the_same_users():
  # User 0: relevant (>= 4) are items 0 and 2. Items 0 and 1 tie on top
  # (one relevant): rank 1 holds 1/2 a hit; then item 3, then item 2.
  # User 1 has no relevant item: left out of precision and recall.
  y = np.array([[5.0, 2.0, 4.0, 1.0], [1.0, 2.0, 3.0, 3.0]])
  p = np.array([[0.9, 0.9, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
  m = metrics.compute_metrics(y, p, threshold=4.0)
  assert m["n_tasks_no_relevant"] == 1
  assert m["precision@1"] == pytest.approx(1 / 2)
  assert m["recall@1"] == pytest.approx(1 / 4)
  assert m["precision@3"] == pytest.approx(1 / 3)
  assert m["recall@3"] == pytest.approx(1 / 2)
  assert m["precision@5"] == pytest.approx(2 / 5)  # k > Q: / k.
  assert m["recall@5"] == pytest.approx(1.0)
  assert m["precision@1_pessimistic"] == 0.0
  assert m["precision@3_pessimistic"] == pytest.approx(1 / 3)
  # The threshold is inclusive and decides who is left out: at 3, user 1's
  # items 2 and 3 are relevant and ranked first.
  m3 = metrics.compute_metrics(y, p, threshold=3.0)
  assert m3["n_tasks_no_relevant"] == 0
  assert m3["precision@1"] == pytest.approx((1 / 2 + 1) / 2)
  # Without a threshold, no precision/recall keys.
  assert "precision@1" not in metrics.compute_metrics(y, p)


def test_expected_random_precision_recall_matches_enumeration():
  y = np.array([[5.0, 1.0, 4.0, 2.0], [4.0, 4.0, 4.0, 1.0],
                [1.0, 2.0, 3.0, 1.0]])
  perms = list(itertools.permutations(range(4)))
  rank = -np.arange(4.0)[None]
  got = metrics.precision_recall_metrics(y, np.zeros_like(y), 4.0,
                                         random_ranking=True)
  for k in (1, 3, 5):
    want_p, want_r = [], []
    for row in y[:2]:  # Row 2 has no relevant item: out of both.
      vals = [metrics.precision_recall_metrics(row[list(perm)][None], rank,
                                               4.0) for perm in perms]
      want_p.append(np.mean([v[f"precision@{k}"] for v in vals]))
      want_r.append(np.mean([v[f"recall@{k}"] for v in vals]))
    assert got[f"precision@{k}"] == pytest.approx(np.mean(want_p))
    assert got[f"recall@{k}"] == pytest.approx(np.mean(want_r))
    assert got[f"precision@{k}_pessimistic"] == got[f"precision@{k}"]
  # By hand: precision min(k, Q) R / (Q k), recall min(k, Q) / Q.
  assert got["precision@3"] == pytest.approx((2 / 4 + 3 / 4) / 2)
  assert got["recall@3"] == pytest.approx(3 / 4)
  assert got["recall@5"] == pytest.approx(1.0)


def test_corr_by_hand_and_who_it_leaves_out():
  y = np.array([[1.0, 2.0, 3.0, 4.0],   # Linear in the prediction: 1.
                [1.0, 2.0, 3.0, 4.0],   # Reversed: -1.
                [1.0, 3.0, 2.0, 4.0],   # By hand below.
                [2.0, 5.0, 1.0, 3.0],   # Constant prediction: 0.
                [3.0, 3.0, 3.0, 3.0]])  # Constant truth: left out.
  p = np.array([[0.5, 1.0, 1.5, 2.0],
                [4.0, 3.0, 2.0, 1.0],
                [1.0, 2.0, 3.0, 4.0],
                [3.3, 3.3, 3.3, 3.3],
                [1.0, 2.0, 3.0, 4.0]])
  per_user = metrics.correlation(y, p)
  # Row 2: centred (-1.5, .5, -.5, 1.5) and (-1.5, -.5, .5, 1.5):
  # (2.25 - .25 - .25 + 2.25) / 5 = 0.8.
  np.testing.assert_allclose(per_user[:4], [1.0, -1.0, 0.8, 0.0])
  assert np.isnan(per_user[4])
  m = metrics.compute_metrics(y, p)
  assert m["corr"] == pytest.approx((1 - 1 + 0.8 + 0) / 4)
  assert m["n_tasks_constant_truth"] == 1
  # An independent computation on random rows.
  rng = np.random.default_rng(1)
  y, p = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
  np.testing.assert_allclose(metrics.correlation(y, p), [
      np.corrcoef(a, b)[0, 1] for a, b in zip(y, p)])
  # The random floor: 0 in expectation, over the same users.
  floor = metrics.compute_metrics(y, p, random_ranking=True)
  assert floor["corr"] == 0.0 and floor["n_tasks_constant_truth"] == 0


def test_an_independent_reading_of_a_tied_predictions_csv_agrees(tmp_path):
  import csv_checks  # The tests' own recomputation, written apart.
  rng = np.random.default_rng(2)
  y = rng.integers(1, 6, (30, 10)).astype(float)
  y[0] = 3.0  # Constant truth: out of corr.
  p = rng.integers(2, 5, (30, 10)).astype(float) / 2  # Ties everywhere.
  p[1] = 2.5  # Constant prediction: corr 0.
  path = tmp_path / "predictions_item_cold.csv"
  path.write_text("user_id,item_id,rating,prediction\n" + "".join(
      f"{u},{i},{y[u, i]:g},{p[u, i]:.6f}\n" for u in range(30)
      for i in range(10)))
  got = metrics.compute_metrics(y, p, threshold=4.0)
  for k in metrics.PR_KS:
    for key, value in csv_checks.recompute(path, 4.0, k).items():
      assert got[key] == pytest.approx(value, abs=1e-12), key
