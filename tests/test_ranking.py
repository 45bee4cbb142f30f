"""Catalogue ranking metrics by hand: ties pessimistic, excluded
candidates, users without a positive, and the random expectation."""

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
  # Order: 0, 2, 3, 4, 5, 6, 7, 8, then the tie 9, 10, 15 (positive last),
  # so the positives are at ranks 3 and 11.
  out = ranking.per_user(scores[None], positive[None])
  assert out["catalogue_recall@10"][0] == pytest.approx(1 / 2)
  assert out["catalogue_recall@20"][0] == pytest.approx(1.0)
  assert out["catalogue_ndcg@10"][0] == pytest.approx(D(3) / (D(1) + D(2)))
  # Broken the other way the positive would be 9th: the rule decides.
  lucky = scores.copy()
  lucky[15] += 1e-9
  assert ranking.per_user(lucky[None], positive[None])[
      "catalogue_recall@10"][0] == 1.0


def test_constant_scores_rank_positives_last_and_no_positive_is_left_out():
  scores, positive = _user()
  const = np.where(np.isfinite(scores), 3.0, -np.inf)
  # 24 candidates, 2 positives: ranks 23 and 24.
  out = ranking.per_user(np.stack([const, scores]),
                         np.stack([positive, np.zeros(25, bool)]))
  assert out["catalogue_recall@10"][0] == 0.0
  assert out["catalogue_recall@20"][0] == 0.0
  assert out["catalogue_ndcg@10"][0] == 0.0
  assert np.isnan(out["catalogue_recall@10"][1])
  means = ranking.summarise([out])
  assert means["catalogue_recall@10"] == 0.0  # The NaN user left out.


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
