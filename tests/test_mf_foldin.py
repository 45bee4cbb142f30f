"""mf_foldin: ALS (meta/als.py), the fold-in, the new-item regression, and
its closed-form fit through the engine (meta/mf_foldin.py, train/engine.py).

Known answers: ALS recovers an exactly low-rank, fully observed matrix; the
fold-in and the new-item regression equal numpy.linalg.lstsq of their
augmented systems.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core import io
from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Query, Support
from metarec_jax.data import pipeline
from metarec_jax.evaluation import selection
from metarec_jax.meta import als, base, mf_foldin, registry, residual
from metarec_jax.serving import recommender
from metarec_jax.train import closed_form, engine, experiment
from tiny_run import tiny_config, write_dataset

HP = {"inner_lr": np.float32(0.0), "bias_prior": np.float32(2.0),
      "support_prior": np.float32(0.0)}


def test_als_recovers_an_exactly_low_rank_matrix():
  r = np.random.default_rng(0)
  n_u, n_i, rank = 30, 20, 2
  truth = (3.0 + r.normal(size=(n_u, 1)) + r.normal(size=(1, n_i))
           + r.normal(size=(n_u, rank)) @ r.normal(size=(rank, n_i)))
  user, item = np.meshgrid(np.arange(n_u), np.arange(n_i), indexing="ij")
  user, item = user.reshape(-1), item.reshape(-1)
  f = als.fit(user, item, truth.reshape(-1), n_u, n_i, rank, 1e-6, 100, 0)
  np.testing.assert_allclose(f.predict(user, item), truth.reshape(-1),
                             atol=1e-3)
  # One rank short cannot: the test can fail.
  g = als.fit(user, item, truth.reshape(-1), n_u, n_i, 1, 1e-6, 100, 0)
  assert np.abs(g.predict(user, item) - truth.reshape(-1)).max() > 0.1
  # Deterministic given the seed.
  h = als.fit(user, item, truth.reshape(-1), n_u, n_i, rank, 1e-6, 100, 0)
  np.testing.assert_array_equal(h.items, f.items)


def test_solve_side_is_each_entitys_lstsq():
  r = np.random.default_rng(1)
  idx = np.array([2, 0, 2, 2, 0, 3])
  other, target = r.normal(size=(6, 3)), r.normal(size=6)
  out = als.solve_side(als._segments(idx, 5), other, target, 0.7, 3)
  for e in range(5):
    rows = idx == e
    x = np.concatenate([np.ones((rows.sum(), 1)), other[rows]], 1)
    a = np.concatenate([x, np.sqrt(0.7) * np.eye(4)])
    b = np.concatenate([target[rows], np.zeros(4)])
    np.testing.assert_allclose(out[e], np.linalg.lstsq(a, b, rcond=None)[0],
                               rtol=1e-10, atol=1e-12)
  np.testing.assert_array_equal(out[[1, 4]], 0.0)  # No ratings: zeros.


def test_fold_in_is_the_lstsq_of_its_augmented_system():
  r = np.random.default_rng(2)
  method = mf_foldin.MFFoldIn(ranks=(2, 3))
  n = 7
  params = {"mu": np.float32(3.2),
            "item_bias": r.normal(size=n).astype(np.float32),
            "item_factors": r.normal(size=(n, 3)).astype(np.float32),
            "log_fold_reg": np.log(np.float32(2.5))}
  params["item_factors"][:, 2] = 0.0  # Rank 2 in the max-rank table.
  items = np.array([[0, 3, 5, 1]])
  ratings = np.array([[4.0, 2.0, 5.0, 9.0]], np.float32)
  mask = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
  support = Support(jnp.array([0]), jnp.asarray(items), jnp.asarray(ratings),
                    jnp.asarray(mask))
  w = np.asarray(method.adapt(params, None, support, HP))[0]
  q = params["item_factors"][items[0, :3]].astype(np.float64)
  x = np.concatenate([q, np.ones((3, 1))], 1)
  y = ratings[0, :3] - 3.2 - params["item_bias"][items[0, :3]]
  a = np.concatenate([x, np.sqrt(2.5) * np.eye(4)])
  want = np.linalg.lstsq(a, np.concatenate([y, np.zeros(4)]), rcond=None)[0]
  np.testing.assert_allclose(w, want, rtol=1e-5, atol=1e-6)
  assert w[2] == 0.0  # An unused rank column gets no weight.
  # Its prediction: mu + b_i + q_i . p_u + b_u.
  pred = method.predict(params, None, w[None], Query(jnp.array([0]),
                                                     jnp.array([[6, 2]])))
  want_pred = 3.2 + params["item_bias"][[6, 2]] + np.concatenate(
      [params["item_factors"][[6, 2]], np.ones((2, 1))], 1) @ want
  np.testing.assert_allclose(pred[0], want_pred, rtol=1e-5)


def test_new_item_regression_is_lstsq_and_its_reg_is_leave_one_out():
  r = np.random.default_rng(3)
  tables = {"item": {"genre": np.array([[1, 2], [2, 0], [3, 0], [1, 3],
                                        [2, 3], [1, 0], [3, 2], [1, 2]])},
            "item_id": np.arange(8),
            "item_text": r.normal(size=(8, 2))}
  x = als.content_features(tables).toarray()
  # Genre multi-hot / count, text, 1, written out.
  np.testing.assert_allclose(x[0], [0.5, 0.5, 0, *tables["item_text"][0], 1])
  np.testing.assert_allclose(x[2], [0, 0, 1, *tables["item_text"][2], 1])
  fitted = np.array([1, 1, 1, 1, 1, 0, 1, 0], bool)
  targets = r.normal(size=(8, 3))
  regs = (0.01, 0.3, 5.0)
  pred, cold, reg, scores = als.FeatureRidge(als.content_features(tables),
                                             fitted).predict(targets, regs)
  t = targets[fitted]
  centre = t.mean(0)
  a = np.concatenate([x[fitted], np.sqrt(reg) * np.eye(x.shape[1])])
  b = np.concatenate([t - centre, np.zeros((x.shape[1], 3))])
  w = np.linalg.lstsq(a, b, rcond=None)[0]
  np.testing.assert_allclose(pred, centre + x @ w, rtol=1e-8, atol=1e-10)
  # Each reg's score is the exact leave-one-out error, refitting by lstsq.
  for reg_i, score in scores:
    errs = []
    for leave in np.flatnonzero(fitted):
      keep = fitted.copy()
      keep[leave] = False
      a = np.concatenate([x[keep], np.sqrt(reg_i) * np.eye(x.shape[1])])
      b = np.concatenate([targets[keep] - centre, np.zeros((x.shape[1], 3))])
      w_i = np.linalg.lstsq(a, b, rcond=None)[0]
      errs.append((targets[leave] - centre - x[leave] @ w_i) ** 2)
    np.testing.assert_allclose(score, np.mean(errs), rtol=1e-8)
  assert reg == min(scores, key=lambda s: s[1])[0]
  # A new row's cold prediction is its prediction.
  np.testing.assert_array_equal(cold[~fitted], pred[~fitted])


def test_cold_rows_are_the_refits_without_each_row():
  """A fitted row's cold prediction is the regression refitted without
  that row (by lstsq, the centre kept) at the chosen reg, applied to it."""
  r = np.random.default_rng(4)
  tables = {"item": {"genre": r.integers(0, 5, size=(12, 3))},
            "item_id": np.arange(12), "item_text": r.normal(size=(12, 4))}
  x = als.content_features(tables).toarray()
  fitted = np.ones(12, bool)
  fitted[[3, 8]] = False
  targets = r.normal(size=(12, 2))
  out = als.FeatureRidge(als.content_features(tables), fitted).predict(
      targets, (0.05, 0.5, 5.0))
  centre = targets[fitted].mean(0)
  for leave in np.flatnonzero(fitted):
    keep = fitted.copy()
    keep[leave] = False
    a = np.concatenate([x[keep], np.sqrt(out.reg) * np.eye(x.shape[1])])
    b = np.concatenate([targets[keep] - centre, np.zeros((x.shape[1], 2))])
    w = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(out.cold[leave], centre + x[leave] @ w,
                               rtol=1e-8, atol=1e-10)
  # Not the in-sample prediction: the row's own target moved it.
  assert np.abs(out.cold[fitted] - out.rows[fitted]).min() > 1e-6


def test_a_new_items_bias_is_its_content_level_minus_its_offset():
  """Rated items' levels (offset + b_i) are linear in their genres; a new
  item gets that level back, as a bias relative to its own offset."""
  genre = np.array([[1, 0], [2, 0], [3, 0], [1, 2], [2, 3], [1, 3],
                    [3, 0], [1, 2]])
  tables = {"item": {"genre": genre}, "item_id": np.arange(8)}
  x = als.content_features(tables).toarray()
  level = x @ np.array([0.5, -0.25, 1.0, 3.0])
  rated = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)
  offset = np.where(rated, level - 0.1, 3.4)  # Item means; new: global.
  f = als.Factors(0.0, np.zeros(1), np.zeros((1, 2)),
                  np.where(rated, 0.1, 0.0), np.ones((8, 2)))
  method = mf_foldin.MFFoldIn(item_regs=(1e-9,))
  rows, _ = method.item_rows(
      f, rated, als.FeatureRidge(als.content_features(tables), rated),
      offset)
  np.testing.assert_allclose(rows["item_bias"],
                             np.where(rated, 0.1, level - 3.4), atol=1e-6)
  np.testing.assert_allclose(rows["item_factors"], 1.0, atol=1e-6)
  # Cold rows: every item's content level minus its offset (the levels
  # are exactly linear in the genres, so leaving a row out loses nothing).
  np.testing.assert_allclose(rows["cold_bias"], level - offset, atol=1e-5)
  np.testing.assert_allclose(rows["cold_factors"], 1.0, atol=1e-6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder)
  config.method, config.model.residual = "mf_foldin", True
  config.bias_prior = 2.0
  config.mf_ranks, config.mf_regs = (2, 4), (1.0, 10.0)
  config.mf_fold_regs, config.mf_sweeps = (1.0, 10.0), 4
  return config, pipeline.prepare(config.data, 0)


def test_fit_chooses_the_best_validation_point(tiny, tmp_path):
  """The engine fits (no steps), records the grid, and the chosen params
  score the recorded validation MAE; new items get content factors."""
  config, prep = tiny
  method = registry.build(config, prep)
  assert base.closed_form(method) and not base.rows_from_tables(method)
  runs = [engine.Run(config, prep, 0, str(tmp_path / "a"), method)]
  trained = engine.train(method, runs, config, str(tmp_path / "a"))
  rec = trained.records[0]
  assert trained.timing["steps_run"] == 0
  assert len(rec["fit_grid"]) == 2 * 2 * 2 and "grid" not in rec
  assert rec["best_validation_mae"] == pytest.approx(
      min(g["validation_mae"] for g in rec["fit_grid"]), abs=1e-6)
  params = trained.best_params[0]
  mae = selection.validation_mae(method, params, prep, base.hparams(config),
                                 config)
  assert mae == pytest.approx(rec["best_validation_mae"], abs=1e-6)
  rank = rec["chosen"]["rank"]
  q = params["item_factors"]
  assert np.all(q[:, rank:] == 0) and np.abs(q[:, :rank]).max() > 0
  assert np.exp(params["log_fold_reg"]) == pytest.approx(
      rec["chosen"]["fold_reg"], rel=1e-6)
  new = prep.tables["item_id"] == 0
  assert new.any() and np.abs(q[new, :rank]).max() > 0
  # Cold rows: a new item's are its rows; a rated item's are its
  # leave-one-out content prediction, not its ALS rows.
  for row, cold in (("item_bias", "cold_bias"),
                    ("item_factors", "cold_factors")):
    np.testing.assert_array_equal(params[cold][new], params[row][new])
    gap = np.abs(params[cold][~new] - params[row][~new])
    assert gap.reshape(gap.shape[0], -1)[:, :rank].min() > 0, cold
  assert np.all(params["cold_factors"][:, rank:] == 0)
  # Same seed, same numbers.
  again = engine.train(method, runs, config, str(tmp_path / "b"))
  jax.tree.map(np.testing.assert_array_equal, again.best_params[0], params)


@pytest.mark.parametrize("item_prior, scale", [(0.0, 1.0), (4.0, 2.0)])
def test_residual_fit_models_what_the_offset_misses(tiny, item_prior, scale):
  """Through the residual wrapper, ALS sees ratings minus the offset
  predict() adds (item mean shrunk by item_prior, user bias shrunk by
  bias_prior), in the base's units (/ scale); a new item's bias is its
  content level minus the offset it gets."""
  config, prep = tiny
  seen = {}

  class Spy(mf_foldin.MFFoldIn):
    def fit(self, seed, tables, ratings, hparams, validate, item_offset=None):
      seen.update(ratings=ratings, offset=item_offset)
      return {}, {}

  ratings = closed_form.train_ratings(prep)
  hp = {**HP, "item_prior": np.float32(item_prior)}
  residual.Residual(Spy(), scale).fit(0, prep.tables, ratings, hp, None)
  # Shrunk means from the raw ratings, apart from residual.item_means.
  n = np.bincount(ratings["item"], minlength=len(prep.items))
  total = np.bincount(ratings["item"], ratings["rating"], len(prep.items))
  g = ratings["rating"].mean()
  item_mean = np.where(n > 0, (total + item_prior * g) / np.maximum(
      n + item_prior, 1e-12), g)
  u = ratings["user"][0]
  mine = ratings["user"] == u
  resid = ratings["rating"][mine] - item_mean[ratings["item"][mine]]
  bias = resid.sum() / (mine.sum() + 2.0)
  np.testing.assert_allclose(seen["ratings"]["rating"][mine],
                             (resid - bias) / scale, rtol=1e-5)
  np.testing.assert_allclose(seen["offset"], item_mean / scale, rtol=1e-5)


def test_bad_grid_names_the_field(tiny):
  config = tiny[0].copy_and_resolve_references()
  config.mf_fold_regs = (3.0, -1.0)
  with pytest.raises(ConfigError, match="mf_fold_regs"):
    mf_foldin.build(config, None)
  config.mf_fold_regs, config.mf_ranks = (3.0,), ()
  with pytest.raises(ConfigError, match="mf_ranks"):
    mf_foldin.build(config, None)


def test_main_experiment_evaluates_and_serves(tiny, tmp_path):
  config, _ = tiny
  results = experiment.train_and_evaluate(config, str(tmp_path / "run"))
  saved = io.read_json(str(tmp_path / "run" / "results.json"))["selection"]
  assert len(saved["fit_grid"]) == 8 and saved["chosen"]["rank"] in (2, 4)
  assert np.isfinite(results["scenarios"]["user_cold"]["mae"])
  rec = recommender.Recommender.load(str(tmp_path / "run"))
  state = rec.adapt([(1, 5.0), (2, 1.0)])
  assert len(rec.top_k(state, 3)) == 3
