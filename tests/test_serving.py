"""Serving: the prior for no ratings, adaptation, dynamic updates, batch
mode, unknown ids, and scripts/recommend.py's JSON on a finished run."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from metarec_jax import methods, serving, serving_io, train
from metarec_jax.data.sources import DataError
from tiny_run import tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  w = str(tmp_path_factory.mktemp("run"))
  train.train_and_evaluate(tiny_config(folder), w)
  return w


@pytest.fixture(scope="module")
def rec(workdir):
  return serving.Recommender.load(workdir)


def test_no_ratings_is_the_meta_learned_prior(rec):
  prior = rec.adapt([]).scores
  config = rec.config.copy_and_resolve_references()
  config.inner_steps = 0  # The initialisation itself, no adaptation.
  no_steps = methods.build(config, rec.prep)
  batch = rec._batch([(np.zeros(0, np.int32), np.zeros(0, np.float32))])  # pylint: disable=protected-access
  want = np.asarray(jax.jit(no_steps.predict)(rec.params, rec.tables, batch,
                                     rec.hparams))[0]
  np.testing.assert_allclose(prior, want, rtol=1e-6, atol=1e-6)
  adapted = rec.adapt([(1, 5.0), (2, 5.0), (3, 1.0)]).scores
  assert np.abs(adapted - prior).max() > 1e-4


def test_top_k_excludes_rated_items_best_first(rec):
  state = rec.adapt([(1, 5.0), (2, 4.0)])
  top = rec.top_k(state, 5)
  ids = [i for i, _ in top]
  assert len(top) == 5 and not {1, 2} & set(ids)
  raw = state.scores[rec.item_index(ids)]
  assert np.all(np.diff(raw) <= 0)
  best_unrated = max((s, i) for i, s in zip(rec.item_ids, state.scores)
                     if i not in (1, 2))
  assert ids[0] == best_unrated[1]


def test_update_equals_adapting_on_the_extended_support(rec):
  first = rec.adapt([(1, 5.0), (2, 4.0)])
  updated = rec.update(first, [(3, 2.0), (2, 1.0)])  # 2 is re-rated.
  direct = rec.adapt([(1, 5.0), (3, 2.0), (2, 1.0)])
  np.testing.assert_allclose(updated.scores, direct.scores, rtol=1e-6)
  assert sorted(updated.items.tolist()) == [1, 2, 3]
  assert np.abs(updated.scores - first.scores).max() > 1e-5


def test_batch_equals_one_user_at_a_time(rec):
  users = {"a": [(1, 5.0)], "b": [], "c": [(4, 2.0), (5, 3.0), (6, 1.0)]}
  batch = rec.recommend(users, 4)
  for u, ratings in users.items():
    one = rec.top_k(rec.adapt(ratings), 4)
    assert [i for i, _ in batch[u]] == [i for i, _ in one]
    np.testing.assert_allclose([s for _, s in batch[u]],
                               [s for _, s in one], rtol=1e-5)


def test_unknown_items_are_one_error_listing_them(rec, tmp_path):
  with pytest.raises(serving.ServingError, match=r"2 item id\(s\) unknown "
                     r"to the model: 999, 1000;"):
    rec.adapt([(1, 4.0), (1000, 3.0), (999, 5.0)], source="x.csv")
  path = tmp_path / "r.csv"
  path.write_text("item_id,rating\n1,4\n2,nan\n")
  with pytest.raises(DataError, match=f"{path}:3: rating 'nan' is not a finite"):
    serving_io.read(str(path), rec.rating_range)
  path.write_text("item_id,rating\n")
  assert serving_io.read(str(path), rec.rating_range) == (False, {})


def _recommend(workdir, ratings):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={ratings}", "--k=3",
       "--format=json"], capture_output=True, text=True, timeout=300,
      check=False)


def test_recommend_script_json_and_exit_2(workdir, tmp_path):
  good = tmp_path / "me.json"
  good.write_text(json.dumps([{"item_id": 1, "rating": 5},
                              {"item_id": 7, "rating": 2}]))
  proc = _recommend(workdir, good)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)
  assert list(out) == ["items"] and len(out["items"]) == 3
  assert all(set(x) == {"item_id", "score"} for x in out["items"])
  assert not {1, 7} & {x["item_id"] for x in out["items"]}
  scores = [x["score"] for x in out["items"]]
  assert scores == sorted(scores, reverse=True)
  bad = tmp_path / "bad.csv"
  bad.write_text("item_id,rating\n1,5\n4242,3\n")
  proc = _recommend(workdir, bad)
  assert proc.returncode == 2 and proc.stdout == ""
  assert "Traceback" not in proc.stderr
  assert f"error: {bad}:3: 1 item id(s) unknown to the model: 4242 (line " \
      "3); remove them" in proc.stderr
