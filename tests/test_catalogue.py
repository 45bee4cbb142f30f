"""Catalogue ranking of a method and the floors on a tiny dataset: the
chunked, batched computation against a per-user brute force, with each
user's known items (pool ratings, support) left out of the candidates."""

import dataclasses

import jax
import numpy as np
import pytest

from metarec_jax.data import batching, pipeline
from metarec_jax.data.sources import Ratings
from metarec_jax.evaluation import catalogue, predict
from metarec_jax.meta import base, registry
from tiny_run import tiny_config, write_dataset

THRESHOLD = 4.0
SCENARIO = "user_cold"  # The tiny data's one test scenario with tasks.
D = lambda rank: 1 / np.log2(rank + 1)  # Discount of a 1-based rank.


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  config = tiny_config(write_dataset(str(tmp_path_factory.mktemp("data"))))
  config.method, config.inner_steps, config.model.hidden = "melu_fo", 1, (8,)
  prep = pipeline.prepare(config.data, 0)
  method = registry.build(config, prep)
  params = method.init(jax.random.key(3), jax.tree.map(np.asarray,
                                                       prep.tables))
  return config, prep, method, params


def _candidates(prep, tasks, i, history) -> set:
  """The pool less the user's support and history, its query kept."""
  items = set(catalogue.pool(prep, SCENARIO).tolist())
  known = set(tasks.support_items[i].tolist()) | history.get(i, set())
  return (items - known) | set(tasks.query_items[i].tolist())


def _brute_force(scores_of, prep, tasks, history=None) -> dict:
  """Means over users of recall@10/20, nDCG@10: pessimistic from a Python
  sort by (-score, positive); expected from each positive's chance to land
  on each rank of its tie group (a items above it, g tied with it)."""
  history = history or {}
  vals = {}
  for i in range(len(tasks)):
    pos = set(tasks.query_items[i][tasks.query_ratings[i] >= THRESHOLD]
              .tolist())
    if not pos:
      continue
    score = scores_of(i)
    cands = _candidates(prep, tasks, i, history)
    ranked = sorted(cands, key=lambda c: (-score[c], c in pos))
    hits = [c in pos for c in ranked]
    idcg = sum(D(r + 1) for r in range(min(10, len(pos))))
    add = lambda key, v: vals.setdefault(key, []).append(v)
    for k in (10, 20):
      add(f"catalogue_recall@{k}_pessimistic", sum(hits[:k]) / len(pos))
    add("catalogue_ndcg@10_pessimistic",
        sum(D(r + 1) for r, h in enumerate(hits[:10]) if h) / idcg)
    chance = {10: 0.0, 20: 0.0}
    disc = 0.0
    for c in pos:
      a = sum(score[x] > score[c] for x in cands)
      g = sum(score[x] == score[c] for x in cands)
      for k in chance:
        chance[k] += min(max(k - a, 0), g) / g
      disc += sum(D(r + 1) for r in range(a, min(a + g, 10))) / g
    for k in chance:
      add(f"catalogue_recall@{k}", chance[k] / len(pos))
    add("catalogue_ndcg@10", disc / idcg)
  assert vals
  return {k: float(np.mean(v)) for k, v in vals.items()}


def _with_history(prep, tasks, score_of, users=3):
  """prep whose pool also holds, for each of the first test users, a rating
  of the candidate it scores highest (not one of its query items); and
  {task: those items}."""
  items = catalogue.pool(prep, SCENARIO)
  added, rows = {}, ([], [], [])
  for i in range(users):
    score = score_of(i)
    free = [c for c in items if c not in set(tasks.query_items[i].tolist())
            and c not in set(tasks.support_items[i].tolist())]
    top = max(free, key=lambda c: score[c])
    added[i] = {int(top)}
    rows[0].append(prep.users.ids[tasks.users[i]])
    rows[1].append(prep.items.ids[top])
    rows[2].append(5.0)
  pool = prep.split.pool
  pool = Ratings(np.r_[pool.user, rows[0]], np.r_[pool.item, rows[1]],
                 np.r_[pool.rating, rows[2]].astype(np.float32))
  split = dataclasses.replace(prep.split, pool=pool)
  return dataclasses.replace(prep, split=split), added


def test_method_matches_a_per_user_brute_force(tiny):
  config, prep, method, params = tiny
  tasks = prep.test_tasks(SCENARIO)
  hparams = base.hparams(config)
  every = np.arange(len(prep.items), dtype=np.int32)[None]

  def scores_of(i):  # One user, every item as the query, one call.
    size = batching.bucket_for(len(tasks.support_items[i]),
                               config.data.buckets)
    b = batching.pad_tasks(tasks, [i], size, 1)
    b = b.replace(query_items=every, query_ratings=np.zeros(every.shape,
                                                            np.float32),
                  query_mask=np.ones(every.shape, np.float32))
    return predict.predict_batch(method, params, prep.tables, b, hparams)[0]

  # New users have no pool ratings: give three of them their top item.
  hist_prep, history = _with_history(prep, tasks, scores_of)
  want = _brute_force(scores_of, prep, tasks, history)
  # Several item chunks (the pool is ~50 items) and a padded user batch.
  got = catalogue.method_metrics(method, params, hist_prep, tasks, SCENARIO,
                                 hparams, config.data.buckets, THRESHOLD,
                                 users_per_batch=4, item_chunk=16)
  for key, value in want.items():
    assert got[key] == pytest.approx(value, abs=1e-9), key
  assert 0 < got["catalogue_recall@20"] < 1  # A non-trivial case.


def test_floors_match_brute_force_and_random_is_its_expectation(tiny):
  _, prep, _, _ = tiny
  tasks = prep.test_tasks(SCENARIO)
  item_mean = prep.floor_stats.item_mean
  hist_prep, history = _with_history(prep, tasks, lambda i: item_mean)
  got = catalogue.floor_metrics(hist_prep, tasks, SCENARIO, THRESHOLD, seed=0)
  want = _brute_force(lambda i: item_mean, prep, tasks, history)
  for key, value in want.items():
    assert got["item_mean"][key] == pytest.approx(value, abs=1e-9), key
  # The history matters: the same ranking without it scores otherwise.
  plain = _brute_force(lambda i: item_mean, prep, tasks)
  assert any(abs(plain[k] - want[k]) > 1e-6 for k in want)
  # A constant ranks like a random order of the same candidates (all
  # tied), and at worst puts every positive after every other candidate.
  cands = [len(_candidates(prep, tasks, i, history)) for i in range(len(tasks))
           if (tasks.query_ratings[i] >= THRESHOLD).any()]
  rand = np.mean([10 / c for c in cands])
  assert got["random"]["catalogue_recall@10"] == pytest.approx(rand)
  assert got["global_mean"]["catalogue_recall@10"] == pytest.approx(rand)
  worst = []
  for i in range(len(tasks)):
    p = int((tasks.query_ratings[i] >= THRESHOLD).sum())
    c = len(_candidates(prep, tasks, i, history))
    if p:
      worst.append(min(p, max(0, 10 - (c - p))) / p)
  assert got["global_mean"]["catalogue_recall@10_pessimistic"] == (
      pytest.approx(np.mean(worst)))
  assert got["user_mean"] == got["global_mean"]
  # The random floor has no ties: its bound is its expectation.
  assert got["random"]["catalogue_recall@10_pessimistic"] == (
      got["random"]["catalogue_recall@10"])


def test_known_items_leave_the_candidates_but_query_items_stay(tiny):
  _, prep, _, _ = tiny
  tasks = prep.test_tasks(SCENARIO)
  items = catalogue.pool(prep, SCENARIO)
  query = tasks.query_items[0]
  other = next(c for c in items if c not in set(query.tolist())
               and c not in set(tasks.support_items[0].tolist()))
  # A history holding an unrated pool item and one of the query items.
  known = {int(tasks.users[0]): np.array([other, query[0]])}
  excluded, positive = catalogue.user_masks(tasks, [0], items,
                                            len(prep.items), THRESHOLD, known)
  where = {int(c): j for j, c in enumerate(items)}
  assert excluded[0, where[int(other)]]
  assert not excluded[0, [where[int(q)] for q in query]].any()
  assert excluded[0, [where[int(s)] for s in tasks.support_items[0]
                      if int(s) in where]].all()
  assert excluded[0].sum() == 1 + len(set(tasks.support_items[0].tolist())
                                      & set(where) - set(query.tolist()))
  assert positive[0].sum() == (tasks.query_ratings[0] >= THRESHOLD).sum()
  # history() reads the pool: a user_cold user has none, a pool user some.
  hist = catalogue.history(prep)
  assert int(tasks.users[0]) not in hist
  pool_user = prep.users.index(prep.split.pool.user[:1])[0]
  want = prep.items.index(prep.split.pool.item[
      prep.split.pool.user == prep.split.pool.user[0]])
  assert sorted(hist[int(pool_user)].tolist()) == sorted(want.tolist())
