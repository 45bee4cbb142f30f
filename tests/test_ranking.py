"""Catalogue ranking metrics by hand: ties at their expectation (and the
pessimistic bound), excluded candidates, users without a positive, the
random expectation, and a brute force over every order of the ties."""

import itertools

import numpy as np
import pytest

from metarec_jax.evaluation import ranking

D = lambda rank: 1 / np.log2(rank + 1)  # Discount of a 1-based rank.


def _user():
  """25 candidates scored 100 - i; item 1 excluded (-inf); items 9, 10 and
  the positive 15 tie at 90.5; positives 3 and 15."""
  scores = 100.0 - np.arange(25)
  scores[[9, 10, 15]] = 90.5
  scores[1] = -np.inf
  positive = np.zeros(25, bool)
  positive[[3, 15]] = True
  return scores, positive


def test_by_hand_with_a_tie_across_the_cut():
  scores, positive = _user()
  # Order: 0, 2, 3, 4, 5, 6, 7, 8 (ranks 1-8), then the tie 9, 10, 15 on
  # ranks 9-11: each of those ranks holds the positive with probability
  # 1/3, and only ranks 9 and 10 are in the top 10.
  out = ranking.per_user(scores[None], positive[None])
  assert out["catalogue_recall@10"][0] == pytest.approx((1 + 2 / 3) / 2)
  assert out["catalogue_recall@20"][0] == pytest.approx(1.0)
  assert out["catalogue_ndcg@10"][0] == pytest.approx(
      (D(3) + (D(9) + D(10)) / 3) / (D(1) + D(2)))
  # Pessimistic: the positive last in its tie, rank 11.
  assert out["catalogue_recall@10_pessimistic"][0] == pytest.approx(1 / 2)
  assert out["catalogue_recall@20_pessimistic"][0] == pytest.approx(1.0)
  assert out["catalogue_ndcg@10_pessimistic"][0] == pytest.approx(
      D(3) / (D(1) + D(2)))
  # Without the tie both rules are the plain sort.
  lucky = scores.copy()
  lucky[15] += 1e-9
  out = ranking.per_user(lucky[None], positive[None])
  for key in ranking.EXPECTED_KEYS:
    assert out[key][0] == out[key + "_pessimistic"][0] == pytest.approx(
        {"catalogue_recall@10": 1.0, "catalogue_recall@20": 1.0,
         "catalogue_ndcg@10": (D(3) + D(9)) / (D(1) + D(2))}[key])


def test_constant_scores_are_the_random_expectation_and_no_positive_is_out():
  scores, positive = _user()
  const = np.where(np.isfinite(scores), 3.0, -np.inf)
  out = ranking.per_user(np.stack([const, scores]),
                         np.stack([positive, np.zeros(25, bool)]))
  # 24 candidates, 2 positives: all tied is a uniformly random ranking.
  rand = ranking.expected_random(np.array([24]), np.array([2]))
  for key in ranking.EXPECTED_KEYS:
    assert out[key][0] == pytest.approx(rand[key][0]), key
    assert out[key + "_pessimistic"][0] == 0.0  # Ranks 23 and 24.
  assert out["catalogue_recall@10"][0] == pytest.approx(10 / 24)
  assert np.isnan(out["catalogue_recall@10"][1])
  means = ranking.summarise([out])
  assert means["catalogue_recall@10_pessimistic"] == 0.0  # The NaN left out.


def _brute(scores, positive, k):
  """(recall@k, nDCG@k) averaged over every order of the candidates as the
  tie-break; -inf scores are not candidates."""
  cands = [i for i in range(len(scores)) if np.isfinite(scores[i])]
  n_pos = sum(positive)
  idcg = sum(D(r + 1) for r in range(min(k, n_pos)))
  recalls, ndcgs = [], []
  for perm in itertools.permutations(cands):
    tie_break = {c: j for j, c in enumerate(perm)}
    top = sorted(cands, key=lambda c: (-scores[c], tie_break[c]))[:k]
    recalls.append(sum(positive[c] for c in top) / n_pos)
    ndcgs.append(sum(D(r + 1) for r, c in enumerate(top) if positive[c])
                 / idcg)
  return np.mean(recalls), np.mean(ndcgs)


def test_expected_ties_match_every_order_of_the_ties(monkeypatch):
  # Small cut-offs so that 7 candidates cover the cases a tie straddles.
  monkeypatch.setattr(ranking, "RECALL_KS", (2, 3))
  monkeypatch.setattr(ranking, "NDCG_KS", (3,))
  rng = np.random.default_rng(0)
  for _ in range(10):
    c = int(rng.integers(3, 8))
    scores = rng.integers(0, 3, c).astype(float)
    scores[rng.random(c) < 0.2] = -np.inf
    positive = (rng.random(c) < 0.4) & np.isfinite(scores)
    if not positive.any():
      continue
    out = ranking.per_user(scores[None], positive[None])
    for k in (2, 3):
      recall, ndcg = _brute(scores, positive, k)
      assert out[f"catalogue_recall@{k}"][0] == pytest.approx(recall)
      if k == 3:
        assert out["catalogue_ndcg@3"][0] == pytest.approx(ndcg)


def test_expected_random_matches_every_placement_of_the_positives():
  # A random ranking of C candidates puts the P positives on a uniformly
  # random set of positions; average over all of them.
  for c, p in ((22, 2), (12, 3), (7, 1)):
    vals = []
    for pos in itertools.combinations(range(c), p):
      positive = np.zeros(c, bool)
      positive[list(pos)] = True
      vals.append(ranking.per_user(-np.arange(c, dtype=float)[None],
                                   positive[None]))
    got = ranking.expected_random(np.array([c]), np.array([p]))
    for key in ranking.KEYS:
      assert got[key][0] == pytest.approx(np.mean([v[key][0] for v in vals]))
  assert np.isnan(ranking.expected_random(np.array([5]), np.array([0]))[
      "catalogue_recall@10"][0])
  # By hand: recall@10 = 10 / C.
  assert ranking.expected_random(np.array([40]), np.array([2]))[
      "catalogue_recall@10"][0] == pytest.approx(0.25)


def test_a_large_catalogue_is_sorted_not_compared_pairwise():
  # 56K candidates in 100 tie groups: the expected recall of a positive
  # inside the top group is k / (group size).
  c = 56_000
  scores = np.repeat(np.arange(100.0)[::-1], c // 100)[None]
  positive = np.zeros((1, c), bool)
  positive[0, 5] = True
  out = ranking.per_user(scores, positive)
  assert out["catalogue_recall@20"][0] == pytest.approx(20 / 560)
