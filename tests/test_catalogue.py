"""Catalogue ranking of a method and the floors on a tiny dataset: the
chunked, batched computation against a per-user brute force."""

import jax
import numpy as np
import pytest

from metarec_jax.data import batching, pipeline
from metarec_jax.evaluation import catalogue, predict
from metarec_jax.meta import base, registry
from tiny_run import tiny_config, write_dataset

THRESHOLD = 4.0
SCENARIO = "user_cold"  # The tiny data's one test scenario with tasks.


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  config = tiny_config(write_dataset(str(tmp_path_factory.mktemp("data"))))
  config.method, config.inner_steps, config.model.hidden = "melu_fo", 1, (8,)
  prep = pipeline.prepare(config.data, 0)
  method = registry.build(config, prep)
  params = method.init(jax.random.key(3), jax.tree.map(np.asarray,
                                                       prep.tables))
  return config, prep, method, params


def _brute_force(scores_of, prep, tasks) -> dict:
  """Means over users of recall@10/20, nDCG@10, from a Python sort of each
  user's candidates by (-score, positive)."""
  items = set(catalogue.pool(prep, SCENARIO).tolist())
  vals = {"catalogue_recall@10": [], "catalogue_recall@20": [],
          "catalogue_ndcg@10": []}
  for i in range(len(tasks)):
    pos = set(tasks.query_items[i][tasks.query_ratings[i] >= THRESHOLD]
              .tolist())
    if not pos:
      continue
    score = scores_of(i)
    cands = items - set(tasks.support_items[i].tolist())
    ranked = sorted(cands, key=lambda c: (-score[c], c in pos))
    hits = [c in pos for c in ranked]
    vals["catalogue_recall@10"].append(sum(hits[:10]) / len(pos))
    vals["catalogue_recall@20"].append(sum(hits[:20]) / len(pos))
    dcg = sum(1 / np.log2(r + 2) for r, h in enumerate(hits[:10]) if h)
    idcg = sum(1 / np.log2(r + 2) for r in range(min(10, len(pos))))
    vals["catalogue_ndcg@10"].append(dcg / idcg)
  assert vals["catalogue_recall@10"]
  return {k: float(np.mean(v)) for k, v in vals.items()}


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

  want = _brute_force(scores_of, prep, tasks)
  # Several item chunks (the pool is ~50 items) and a padded user batch.
  got = catalogue.method_metrics(method, params, prep, tasks, SCENARIO,
                                 hparams, config.data.buckets, THRESHOLD,
                                 users_per_batch=4, item_chunk=16)
  for key, value in want.items():
    assert got[key] == pytest.approx(value, abs=1e-9), key
  assert 0 < got["catalogue_recall@20"] < 1  # A non-trivial case.


def test_floors_match_brute_force_and_random_is_its_expectation(tiny):
  _, prep, _, _ = tiny
  tasks = prep.test_tasks(SCENARIO)
  got = catalogue.floor_metrics(prep, tasks, SCENARIO, THRESHOLD, seed=0)
  item_mean = prep.floor_stats.item_mean
  want = _brute_force(lambda i: item_mean, prep, tasks)
  for key, value in want.items():
    assert got["item_mean"][key] == pytest.approx(value, abs=1e-9), key
  # A constant ranks every positive after every other candidate.
  items = catalogue.pool(prep, SCENARIO)
  worst = []
  for i in range(len(tasks)):
    p = int((tasks.query_ratings[i] >= THRESHOLD).sum())
    c = len(set(items.tolist()) - set(tasks.support_items[i].tolist()))
    if p:
      worst.append(min(p, max(0, 10 - (c - p))) / p)
  assert got["global_mean"]["catalogue_recall@10"] == pytest.approx(
      np.mean(worst))
  assert got["user_mean"] == got["global_mean"]
  # Random: recall@k = k / (candidates) per user, averaged.
  rand = [10 / len(set(items.tolist()) - set(tasks.support_items[i].tolist()))
          for i in range(len(tasks))
          if (tasks.query_ratings[i] >= THRESHOLD).any()]
  assert got["random"]["catalogue_recall@10"] == pytest.approx(
      np.mean(rand))
