"""mf_meta with known users (row mf_meta_known): at evaluation a known
user's second fold-in is numpy's ridge around their pool solution and
scores the new items; meta-training never reads the pool solutions, so a
run trains exactly as mf_meta does; the pool solutions and precision come
from the mf_foldin run it starts from."""

import dataclasses

import jax
import numpy as np
import pytest

from metarec_jax.core import io
from metarec_jax.core.types import Query
from metarec_jax.data import pipeline
from metarec_jax.meta import base, registry
from metarec_jax.train import checkpoints, experiment
from method_checks import toy_batch
from tiny_run import tiny_config, write_dataset

KNOWN = ("user_vector", "user_known", "log_known_prec", "item_new")


def _config(folder, method, known=True):
  c = tiny_config(folder, num_steps=4, every=2)
  c.method, c.model.residual = method, True
  c.bias_prior, c.catalogue = 3.0, False
  c.mf_ranks, c.mf_regs, c.mf_fold_regs, c.mf_sweeps = (4,), (5.0,), (
      2.0, 10.0), 3
  c.mf_known_user_precisions = (1.0, 30.0) if known else ()
  return c


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  c = _config(write_dataset(str(tmp_path_factory.mktemp("data"))),
              "mf_meta")
  c.model.residual = False
  return c, pipeline.prepare(c.data, 0)


def _params(method, tables, batch):
  """Non-zero params; the batch's first task's user known, the second's
  not; every item with item_id 0 new."""
  p = jax.device_get(method.init(jax.random.key(0), tables))
  r = np.random.default_rng(0)
  for k in ("item_bias", "prior_kernel", "log_precision_scale",
            "user_vector"):
    p[k] = (0.3 * r.normal(size=np.shape(p[k]))).astype(np.float32)
  known = np.zeros_like(p["user_known"])
  known[batch.user[0]] = 1.0
  assert batch.user[1] != batch.user[0]
  return {**p, "mu": np.float32(0.2), "user_known": known,
          "log_known_prec": np.log(np.float32(5.0)),
          "item_new": (np.asarray(tables["item_id"]) == 0).astype(
              np.float32)}


def test_a_known_user_scores_new_items_around_their_pool_solution(tiny):
  config, prep = tiny
  method = registry.build(config, prep)
  assert method.known_users
  tables = jax.tree.map(np.asarray, prep.tables)
  batch = toy_batch(prep)
  params = _params(method, tables, batch)
  plain_method = dataclasses.replace(method, known_users=False)
  plain = {k: v for k, v in params.items() if k not in KNOWN}
  w = np.asarray(method.adapt(params, tables, batch.support, {}))
  w_plain = np.asarray(plain_method.adapt(plain, tables, batch.support, {}))
  assert w.shape == (len(batch.user), 2, w_plain.shape[-1])
  np.testing.assert_allclose(w[:, 0], w_plain, rtol=1e-4, atol=1e-5)
  # Task 0 (known): numpy's ridge around the pool solution at precision 5
  # on every dimension; task 1 (unknown): the plain fold-in again.
  s = batch.support_mask[0] > 0
  items = batch.support_items[0][s]
  phi = np.concatenate([params["item_factors"][items],
                        np.ones((s.sum(), 1))], 1).astype(np.float64)
  y = batch.support_ratings[0][s] - params["mu"] - params["item_bias"][items]
  pool = params["user_vector"][batch.user[0]].astype(np.float64)
  want = np.linalg.solve(phi.T @ phi + 5.0 * np.eye(len(pool)),
                         phi.T @ y + 5.0 * pool)
  np.testing.assert_allclose(w[0, 1], want, rtol=1e-3, atol=1e-4)
  assert not np.allclose(w[0, 1], w[0, 0], atol=1e-3)
  np.testing.assert_allclose(w[1, 1], w[1, 0], rtol=1e-5, atol=1e-6)
  # Scores: new items through the second row, rated items the first.
  new = np.flatnonzero(params["item_new"] > 0)[:2]
  old = np.flatnonzero(params["item_new"] == 0)[:2]
  query_items = np.tile(np.concatenate([new, old]), (len(batch.user), 1))
  query = Query(user=batch.user, items=query_items.astype(np.int32))
  got = np.asarray(method.predict(params, tables, w, query))
  as_plain = np.asarray(plain_method.predict(plain, tables, w[:, 0], query))
  as_known = np.asarray(plain_method.predict(plain, tables, w[:, 1], query))
  np.testing.assert_allclose(got[:, 2:], as_plain[:, 2:], rtol=1e-5)
  np.testing.assert_allclose(got[:, :2], as_known[:, :2], rtol=1e-5)
  assert not np.allclose(got[0, :2], as_plain[0, :2], atol=1e-4)


def test_meta_training_never_reads_the_pool_solutions(tiny):
  """The meta-loss, with every item dropped to its cold path or none, is
  the same with and without the known leaves, and gives them no
  gradient: pool users' pool solutions have seen their query ratings."""
  config, prep = tiny
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  batch = toy_batch(prep)
  params = _params(method, tables, batch)
  params["user_known"] = np.ones_like(params["user_known"])
  params["item_new"] = np.ones_like(params["item_new"])
  plain = {k: v for k, v in params.items() if k not in KNOWN}
  plain_method = dataclasses.replace(method, known_users=False)
  hp, rng = base.hparams(config), jax.random.key(1)
  for rate in (0.0, 1.0):
    m = dataclasses.replace(method, cold_dropout=rate)
    loss, grads = jax.value_and_grad(
        lambda q, m=m: m.meta_loss(q, tables, batch, rng, hp)[0])(params)
    want = dataclasses.replace(plain_method, cold_dropout=rate).meta_loss(
        plain, tables, batch, rng, hp)[0]
    np.testing.assert_allclose(float(loss), float(want), rtol=1e-6)
    for k in KNOWN:
      np.testing.assert_array_equal(grads[k], 0.0, err_msg=k)


def test_a_run_trains_as_mf_meta_with_the_fits_pool_solutions(tmp_path):
  """From the same mf_foldin_known fit: mf_meta_known copies its known
  leaves and keeps them, and its validation history is mf_meta's; the fit
  restores through its method's init."""
  folder = write_dataset(str(tmp_path / "data"))
  fit_dir = str(tmp_path / "fit")
  experiment.train_and_evaluate(_config(folder, "mf_foldin"), fit_dir)
  histories, params = {}, {}
  for known in (True, False):
    c = _config(folder, "mf_meta", known)
    c.init_from = fit_dir
    out = str(tmp_path / f"meta_{known}")
    experiment.train_and_evaluate(c, out)
    histories[known] = io.read_json(out + "/results.json")["selection"][
        "history"]
    prep = pipeline.prepare(c.data, 0)
    params[known] = checkpoints.restore_for(
        out, registry.build(c, prep), prep.tables)
  np.testing.assert_allclose(np.array(histories[True]),
                             np.array(histories[False]), rtol=1e-6)
  fit = checkpoints.restore_params(fit_dir, None)  # Its fit's own tree.
  # And restored as serving and a table's curve do, through the method's
  # init (which holds the known leaves when the option is on).
  c_fit = _config(folder, "mf_foldin")
  prep = pipeline.prepare(c_fit.data, 0)
  like = checkpoints.restore_for(fit_dir, registry.build(c_fit, prep),
                                 prep.tables)
  assert jax.tree.structure(like) == jax.tree.structure(fit)
  for a, b in zip(jax.tree.leaves(like), jax.tree.leaves(fit)):
    np.testing.assert_array_equal(a, b)
  for k in KNOWN:
    np.testing.assert_array_equal(params[True][k], fit[k], err_msg=k)
  assert "user_known" not in params[False]
