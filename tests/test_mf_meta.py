"""mf_meta: it starts exactly where its seed's mf_foldin fit ends, new
items included, and selection keeps that start unless meta-training
improves on validation; its cold-item path (cold rows + a learned
correction, trained by item dropout) against a hand computation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core import io
from metarec_jax.core.errors import ConfigError
from metarec_jax.data import pipeline
from metarec_jax.data.tasks import TaskSet
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, registry
from metarec_jax.models import text_melu
from metarec_jax.train import checkpoints, engine, experiment
from method_checks import toy_batch
from tiny_run import tiny_config, write_dataset


def _config(folder, method):
  c = tiny_config(folder, num_steps=4, every=2)
  c.method, c.model.residual = method, True
  c.bias_prior, c.catalogue = 3.0, False
  c.mf_ranks, c.mf_regs, c.mf_fold_regs, c.mf_sweeps = (4,), (5.0,), (
      2.0, 10.0), 3
  return c


def _with_new_items(tasks: TaskSet, item_id) -> TaskSet:
  """tasks whose queries and every other support item are new items
  (item_id 0; the tiny dataset's test scenarios with them are empty)."""
  new = np.flatnonzero(item_id == 0)
  r = np.random.default_rng(0)
  support = [np.where(np.arange(len(s)) % 2, r.choice(new, len(s)), s)
             for s in tasks.support_items]
  return dataclasses.replace(
      tasks, support_items=support,
      query_items=r.choice(new, tasks.query_items.shape).astype(np.int32))


def test_mf_meta_starts_at_mf_foldin_and_keeps_it_unless_it_improves(
    tmp_path):
  folder = write_dataset(str(tmp_path / "data"))
  fit_dir = str(tmp_path / "mf_foldin")
  c_fit = _config(folder, "mf_foldin")
  fit = experiment.train_and_evaluate(c_fit, fit_dir)
  prep = pipeline.prepare(c_fit.data, 0)
  tasks = prep.tasks["validation"]
  fold = registry.build(c_fit, prep)
  want = predict.predict_tasks(
      fold, checkpoints.restore_for(fit_dir, fold, prep.tables), prep.tables,
      tasks, base.hparams(c_fit), 16, (32,))

  c = _config(folder, "mf_meta")
  c.init_from = fit_dir
  runs = experiment.runs_for(c, prep, str(tmp_path / "start"))
  group = engine.Group(runs[0].init_method, runs, c, str(tmp_path / "start"))
  start = jax.device_get(engine.take(group.states.params, 0))
  got = predict.predict_tasks(runs[0].init_method, start, prep.tables, tasks,
                              base.hparams(c), 16, (32,))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # New items too, in supports and queries: they go through mf_meta's
  # cold path (cold rows + a zero correction), mf_foldin's item rows.
  cold = _with_new_items(tasks, prep.tables["item_id"])
  np.testing.assert_allclose(
      predict.predict_tasks(runs[0].init_method, start, prep.tables, cold,
                            base.hparams(c), 16, (32,)),
      predict.predict_tasks(fold, checkpoints.restore_for(
          fit_dir, fold, prep.tables), prep.tables, cold, base.hparams(c_fit),
                            16, (32,)), rtol=1e-5, atol=1e-5)

  experiment.train_and_evaluate(c, str(tmp_path / "meta"))
  record = io.read_json(str(tmp_path / "meta" / "results.json"))["selection"]
  chosen = io.read_json(fit_dir + "/results.json")["selection"]
  assert record["history"][0][0] == 0  # The start competes as step 0.
  assert abs(record["history"][0][1] - chosen["best_validation_mae"]) < 1e-5
  assert record["best_validation_mae"] <= record["history"][0][1]
  assert [h[0] for h in record["history"]] == [0, 2, 4]
  del fit


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """mf_meta without the residual wrapper, so its own loss is tested."""
  c = _config(write_dataset(str(tmp_path_factory.mktemp("data"))),
              "mf_meta")
  c.model.residual = False
  return c, pipeline.prepare(c.data, 0)


def _params(method, tables):
  """Params whose every path is non-zero (init's zeros would hide one)."""
  p = jax.device_get(method.init(jax.random.key(0), tables))
  r = np.random.default_rng(0)
  for k in ("item_bias", "cold_bias", "cold_factors", "prior_kernel",
            "cold_kernel", "cold_offset", "log_precision_scale"):
    p[k] = (0.3 * r.normal(size=np.shape(p[k]))).astype(np.float32)
  return {**p, "mu": np.float32(0.2)}


def _hand_loss(method, params, tables, batch, cold: bool) -> float:
  """The task-mean query MSE after the fold-in, in numpy float64, every
  item through its cold row (cold) or its warm row."""
  emb = method.model.embed_all({"embed": params["embed"]}, tables)
  p = {k: np.asarray(v, np.float64) for k, v in params.items()
       if k != "embed"}
  corr = np.asarray(emb.items, np.float64) @ p["cold_kernel"] + p[
      "cold_offset"]
  users = np.asarray(emb.users, np.float64)

  def rows(items):
    if cold:
      return (p["mu"] + p["cold_bias"][items] + corr[items, -1],
              p["cold_factors"][items] + corr[items, :-1])
    return p["mu"] + p["item_bias"][items], p["item_factors"][items]

  losses = []
  for t in np.flatnonzero(batch.task_mask):
    s = batch.support_mask[t] > 0
    level, q = rows(batch.support_items[t][s])
    phi = np.concatenate([q, np.ones((len(q), 1))], 1)
    prec = np.diag(np.exp(p["log_fold_reg"] + p["log_precision_scale"]))
    prior = users[batch.user[t]] @ p["prior_kernel"]
    y = batch.support_ratings[t][s] - level
    w = np.linalg.solve(phi.T @ phi + prec, phi.T @ y + prec @ prior)
    m = batch.query_mask[t] > 0
    level, q = rows(batch.query_items[t][m])
    pred = level + q @ w[:-1] + w[-1]
    losses.append(np.mean((pred - batch.query_ratings[t][m]) ** 2))
  return float(np.mean(losses))


def test_item_dropout_scores_items_through_their_cold_rows(tiny):
  """Dropout 1: every item is cold in training, and the loss is the hand
  computation with cold rows + correction; dropout 0: with warm rows.
  Only the correction (and the content embedding under it) learns from a
  dropped item: the stored cold rows get no gradient."""
  config, prep = tiny
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  batch = toy_batch(prep)
  assert np.all(tables["item_id"][batch.query_items] > 0)  # All warm.
  params, rng = _params(method, tables), jax.random.key(3)
  hp = base.hparams(config)
  grads = {}
  for rate in (0.0, 1.0):
    m = dataclasses.replace(method, cold_dropout=rate)
    loss, grads[rate] = jax.value_and_grad(
        lambda q, m=m: m.meta_loss(q, tables, batch, rng, hp)[0])(params)
    np.testing.assert_allclose(
        float(loss), _hand_loss(m, params, tables, batch, cold=rate == 1.0),
        rtol=1e-4)
  cold, warm = grads[1.0], grads[0.0]
  for k in ("cold_bias", "cold_factors", "item_bias", "item_factors"):
    np.testing.assert_array_equal(cold[k], 0.0, err_msg=k)
  for k in ("cold_kernel", "cold_offset"):
    assert np.abs(cold[k]).max() > 1e-6, k
    np.testing.assert_array_equal(warm[k], 0.0, err_msg=k)
  assert np.abs(warm["item_factors"]).max() > 1e-6
  genre = [k for k in cold["embed"] if k.startswith("item_")]
  assert genre and all(np.abs(jax.tree.leaves(cold["embed"][k])[0]).max()
                       > 0 for k in genre)


def test_new_items_are_cold_at_evaluation(tiny):
  """An item without meta-training ratings (item_id 0) is scored through
  its cold row + correction; warm items through their rows."""
  config, prep = tiny
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  params = _params(method, tables)
  new = np.flatnonzero(tables["item_id"] == 0)
  old = np.flatnonzero(tables["item_id"] > 0)
  assert len(new) and len(old)
  _, corr = method.embedded(params, tables)
  items = jnp.asarray(np.concatenate([new[:3], old[:3]]))
  level, phi = method.rows(params, tables, corr, items,
                           jnp.zeros(items.shape, bool))
  corr = np.asarray(corr)
  want_level = 0.2 + np.concatenate([
      params["cold_bias"][new[:3]] + corr[new[:3], -1],
      params["item_bias"][old[:3]]])
  want_q = np.concatenate([params["cold_factors"][new[:3]]
                           + corr[new[:3], :-1],
                           params["item_factors"][old[:3]]])
  np.testing.assert_allclose(level, want_level, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(phi[:, :-1], want_q, rtol=1e-5, atol=1e-6)


def test_with_item_text_the_correction_reads_it(tiny):
  """mf_meta has no `_text` name: when the tables hold item text, its
  feature model projects it, and the cold correction depends on it."""
  config, prep = tiny
  tables = dict(jax.tree.map(np.asarray, prep.tables))
  r = np.random.default_rng(1)
  tables["item_text"] = r.normal(size=(len(tables["item_id"]), 8)).astype(
      np.float32)
  method = registry.build(config, dataclasses.replace(prep, tables=tables))
  assert isinstance(method.model, text_melu.TextMeLUModel)
  params = _params(method, tables)
  assert "item_text_proj" in params["embed"]
  moved = {**tables, "item_text": tables["item_text"][::-1].copy()}
  a, b = (np.asarray(method.embedded(params, t)[1]) for t in (tables, moved))
  assert np.abs(a - b).max() > 1e-6
  # Without text: the plain model, no projection.
  assert "item_text_proj" not in registry.build(config, prep).init(
      jax.random.key(0), prep.tables)["embed"]


def test_a_dropout_outside_0_1_names_the_field(tiny):
  config = tiny[0].copy_and_resolve_references()
  config.model.item_id_dropout = 1.5
  with pytest.raises(ConfigError, match="item_id_dropout"):
    registry.build(config, tiny[1])


def test_a_run_without_init_from_starts_from_its_own_mf_foldin_fit(
    tmp_path):
  """scripts/main.py --config.method=mf_meta: the engine fits the
  pretrainer (mf_foldin, the same grid) on the run's own data first, and
  that fit competes as step 0."""
  folder = write_dataset(str(tmp_path / "data"))
  experiment.train_and_evaluate(_config(folder, "mf_foldin"),
                                str(tmp_path / "fit"))
  experiment.train_and_evaluate(_config(folder, "mf_meta"),
                                str(tmp_path / "meta"))
  fit = io.read_json(str(tmp_path / "fit" / "results.json"))["selection"]
  pre = io.read_json(str(tmp_path / "meta" / "pretrain.json"))
  assert pre["chosen"] == fit["chosen"]
  history = io.read_json(str(tmp_path / "meta" / "results.json"))[
      "selection"]["history"]
  assert history[0][0] == 0
  assert abs(history[0][1] - fit["best_validation_mae"]) < 1e-5
