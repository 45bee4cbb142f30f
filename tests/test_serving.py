"""Serving: the prior for no ratings, adaptation, dynamic updates, batch
mode, unknown ids, scripts/recommend.py's JSON on a finished run, and that
its scores for a test user are that user's lines in the run's
predictions_<scenario>.csv (one prediction function for both)."""

import csv
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from metarec_jax.core.errors import DataError, ServingError
from metarec_jax.evaluation import predict
from metarec_jax.meta import registry
from metarec_jax.serving import ratings_input, recommender
from metarec_jax.train import experiment
from tiny_run import tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  w = str(tmp_path_factory.mktemp("run"))
  config = tiny_config(folder)
  config.method, config.model.residual = "mamo", True
  config.bias_prior, config.support_prior = 5.0, 10.0
  experiment.train_and_evaluate(config, w)
  return w


@pytest.fixture(scope="module")
def rec(workdir):
  return recommender.Recommender.load(workdir)


def test_no_ratings_is_the_meta_learned_prior(rec):
  prior = rec.adapt([]).scores
  config = rec.config.copy_and_resolve_references()
  config.inner_steps = 0  # The initialisation itself, no adaptation.
  no_steps = registry.build(config, rec.prep)
  batch = rec.serving_batch([(np.zeros(0, np.int32),
                              np.zeros(0, np.float32))])
  want = predict.predict_batch(no_steps, rec.params, rec.tables, batch,
                               rec.hparams)[0]
  np.testing.assert_allclose(prior, want, rtol=1e-6, atol=1e-6)
  adapted = rec.adapt([(1, 5.0), (2, 5.0), (3, 1.0)]).scores
  assert np.abs(adapted - prior).max() > 1e-4


def test_top_k_excludes_rated_items_best_first(rec):
  state = rec.adapt([(1, 5.0), (2, 4.0)])
  top = rec.top_k(state, 5)
  ids = [i for i, *_ in top]
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
  assert sorted(updated.items) == [1, 2, 3]
  assert np.abs(updated.scores - first.scores).max() > 1e-5


def test_batch_equals_one_user_at_a_time(rec):
  users = {"a": [(1, 5.0)], "b": [], "c": [(4, 2.0), (5, 3.0), (6, 1.0)]}
  batch = rec.recommend(users, 4)
  for u, ratings in users.items():
    one = rec.top_k(rec.adapt(ratings), 4)
    assert [i for i, *_ in batch[u]] == [i for i, *_ in one]
    np.testing.assert_allclose([s[1:] for s in batch[u]],
                               [s[1:] for s in one], rtol=1e-5)


def test_unknown_items_are_one_error_listing_them(rec, tmp_path):
  with pytest.raises(ServingError, match=r"2 item id\(s\) unknown "
                     r"to the model: 999, 1000;"):
    rec.adapt([(1, 4.0), (1000, 3.0), (999, 5.0)], source="x.csv")
  path = tmp_path / "r.csv"
  path.write_text("item_id,rating\n1,4\n2,nan\n")
  with pytest.raises(DataError, match=f"{path}:3: rating 'nan' is not a finite"):
    ratings_input.read(str(path), rec.rating_range)
  path.write_text("item_id,rating\n")
  assert ratings_input.read(str(path), rec.rating_range) == (False, {})


def _recommend(workdir, ratings, *extra, k=3):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={ratings}", f"--k={k}",
       "--format=json", *extra], capture_output=True, text=True,
      timeout=300, check=False)


def test_recommend_script_json_and_exit_2(workdir, tmp_path):
  good = tmp_path / "me.json"
  good.write_text(json.dumps([{"item_id": 1, "rating": 5},
                              {"item_id": 7, "rating": 2}]))
  proc = _recommend(workdir, good)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)
  assert list(out) == ["items"] and len(out["items"]) == 3
  assert all(set(x) == {"item_id", "score", "raw_score"}
             for x in out["items"])
  assert not {1, 7} & {x["item_id"] for x in out["items"]}
  raw = [x["raw_score"] for x in out["items"]]
  assert raw == sorted(raw, reverse=True)
  # The score is the raw score clipped to the rating range.
  assert all(x["score"] == min(max(x["raw_score"], 1.0), 5.0)
             for x in out["items"])
  bad = tmp_path / "bad.csv"
  bad.write_text("item_id,rating\n1,5\n4242,3\n")
  proc = _recommend(workdir, bad)
  assert proc.returncode == 2 and proc.stdout == ""
  assert "Traceback" not in proc.stderr
  assert f"error: {bad}:3: 1 item id(s) unknown to the model: 4242 (line " \
      "3); remove them" in proc.stderr
  assert "Warning" not in proc.stderr and "WARNING" not in proc.stderr


def test_recommend_scores_a_test_user_as_the_predictions_csv(workdir, rec,
                                                            tmp_path):
  """The test user's support as --ratings, their features by --user_id: the
  scores of their query items are their lines of predictions_<S>.csv."""
  tasks = rec.prep.test_tasks("user_cold")
  users = rec.prep.users.ids[tasks.users]
  support = tasks.support_items[0], tasks.support_ratings[0]
  path = tmp_path / "support.csv"
  path.write_text("item_id,rating\n" + "".join(
      f"{rec.prep.items.ids[i]},{r:g}\n" for i, r in zip(*support)))
  proc = _recommend(workdir, path, f"--user_id={users[0]}", k=10 ** 6)
  assert proc.returncode == 0, proc.stderr[-2000:]
  served = {x["item_id"]: x["score"] for x in json.loads(proc.stdout)["items"]}
  with open(os.path.join(workdir, "predictions_user_cold.csv")) as f:
    lines = [row for row in csv.DictReader(f)
             if int(row["user_id"]) == users[0]]
  assert len(lines) == tasks.query_items.shape[1]
  for row in lines:
    assert served[int(row["item_id"])] == pytest.approx(
        float(row["prediction"]), abs=1e-4)
  # Without their features the scores differ: the user's row is read.
  proc = _recommend(workdir, path, k=10 ** 6)
  other = {x["item_id"]: x["score"] for x in json.loads(proc.stdout)["items"]}
  assert max(abs(other[i] - served[i]) for i in served) > 1e-4
