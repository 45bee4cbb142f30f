"""mf_foldin's known-user prior (meta/known_users.py): a known user's fold-in
is numpy's ridge solve around their pool solution at the chosen precision,
an unknown user's the plain fold-in; the pool-holdout scores equal the
independent ones of experiments/known_user_prior.py; the fit keeps the
validation criterion and adds nothing when the option is off."""

import jax
import numpy as np
import pytest

from metarec_jax.core.types import Query, Support
from metarec_jax.data import pipeline
from metarec_jax.evaluation import evaluate
from metarec_jax.experiments import known_user_prior
from metarec_jax.meta import als, base, known_users, mf_foldin, registry
from metarec_jax.train import engine
from tiny_run import tiny_config, write_dataset


def _params(rng, items=6, rank=2, users=3):
  return {"mu": np.float32(3.5),
          "item_bias": rng.normal(size=items).astype(np.float32),
          "item_factors": rng.normal(size=(items, rank)).astype(np.float32),
          "cold_bias": np.zeros(items, np.float32),
          "cold_factors": np.zeros((items, rank), np.float32),
          "log_fold_reg": np.log(np.float32(2.0))}


def test_a_known_user_scores_new_items_around_their_pool_solution():
  rng = np.random.default_rng(0)
  method = mf_foldin.MFFoldIn(ranks=(2,))
  plain = _params(rng)
  known = {**plain,
           "user_vector": rng.normal(size=(3, 3)).astype(np.float32),
           "user_known": np.array([1, 0, 1], np.float32),
           "log_known_prec": np.log(np.float32(5.0)),
           "item_new": np.array([0, 0, 0, 1, 1, 0], np.float32)}
  items = np.array([[1, 2, 4, 0], [0, 3, 5, 2]], np.int32)
  ratings = rng.uniform(1, 5, size=(2, 4)).astype(np.float32)
  mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.float32)
  support = Support(user=np.array([0, 1], np.int32), items=items,
                    ratings=ratings, mask=mask)
  got = np.asarray(method.adapt(known, {}, support, {}))  # [T, 2, R + 1]
  got_plain = np.asarray(method.adapt(plain, {}, support, {}))
  # Serving's new-user row (index 3, past the table) is unknown: not
  # clamped onto user 2, who is known.
  past = np.asarray(method.adapt(known, {}, support.replace(
      user=np.array([3, 3], np.int32)), {}))
  np.testing.assert_array_equal(past[:, 1], got_plain)
  for t, (lam, prior) in enumerate([(5.0, known["user_vector"][0]),
                                    (2.0, None)]):
    real = mask[t] > 0
    phi = known_users.with_one(plain["item_factors"][items[t][real]])
    resid = ratings[t][real] - plain["mu"] - plain["item_bias"][
        items[t][real]]
    want = known_users.fold_in(phi, resid, 2.0)  # From 0, for rated items.
    np.testing.assert_allclose(got_plain[t], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got[t, 0], got_plain[t])
    np.testing.assert_allclose(got[t, 1], known_users.fold_in(
        phi, resid, lam, prior), rtol=1e-4, atol=1e-5)
  # Known user 0 moved toward their pool vector; unknown user 1 did not.
  assert not np.allclose(got[0, 1], got_plain[0], atol=1e-3)
  np.testing.assert_array_equal(got[1, 1], got_plain[1])
  # Scores: new items (3, 4) from the second fold-in, rated ones as plain.
  query = Query(user=np.array([0, 1], np.int32),
                items=np.array([[3, 0, 4], [4, 1, 3]], np.int32))
  scores = np.asarray(method.predict(known, {}, got, query))
  scores_plain = np.asarray(method.predict(plain, {}, got_plain, query))
  np.testing.assert_array_equal(scores[:, 1], scores_plain[:, 1])
  np.testing.assert_array_equal(scores[1], scores_plain[1])
  q = query.items[0, [0, 2]]  # User 0's new items.
  np.testing.assert_allclose(scores[0, [0, 2]],
                             plain["mu"] + plain["item_bias"][q]
                             + known_users.with_one(
                                 plain["item_factors"][q]) @ got[0, 1],
                             rtol=1e-5)
  assert not np.allclose(scores[0, 0], scores_plain[0, 0], atol=1e-4)


def _pool(seed=0, users=60, items=200, rank=3):
  rng = np.random.default_rng(seed)
  p, q = rng.normal(size=(users, rank)), rng.normal(size=(items, rank))
  user, item = np.nonzero(rng.uniform(size=(users, items)) < 0.6)
  rating = 3 + (p[user] * q[item]).sum(1) + 0.3 * rng.normal(size=len(user))
  return user, item, rating


def test_holdout_scores_match_the_experiments_independent_ones():
  user, item, rating = _pool()
  data = known_users.holdout(user, item, rating, 60, seed=1)
  assert len(data.tasks) > 10
  f = als.fit(data.user, data.item, data.rating, 60, 200, 3, 5.0, 6, 1)
  rng = np.random.default_rng(2)
  bias = f.item_bias + 0.1 * rng.normal(size=200)  # Stand-in cold rows.
  factors = f.items + 0.1 * rng.normal(size=f.items.shape)
  ours = known_users.holdout_mae(f, bias, factors, data, 3.0, (1.0, 10.0))
  theirs = known_user_prior.score(f, bias, factors, data, 5.0, (1.0, 3.0,
                                                                10.0))
  assert ours["off"] == pytest.approx(theirs["fold_in_3"], rel=1e-9)
  for lam in (1.0, 10.0):
    assert ours[lam] == pytest.approx(theirs[f"pool_prior_{lam:g}"],
                                      rel=1e-9)


def test_known_user_params_pad_the_pool_solution_and_mark_pool_users():
  user, item, rating = _pool()
  f = als.fit(user, item, rating, 62, 200, 3, 5.0, 4, 0)  # 2 unrated
  method = mf_foldin.MFFoldIn(ranks=(3, 5))
  rated = np.arange(200) % 3 > 0
  on = method.known_user_params(f, {"user": user}, 62, 3.0, rated)
  np.testing.assert_array_equal(on["item_new"], ~rated)
  np.testing.assert_array_equal(on["user_vector"][:, :3], np.float32(f.users))
  np.testing.assert_array_equal(on["user_vector"][:, 3:5], 0)
  np.testing.assert_array_equal(on["user_vector"][:, 5],
                                np.float32(f.user_bias))
  np.testing.assert_array_equal(on["user_known"],
                                np.arange(62) < 60)
  assert np.exp(on["log_known_prec"]) == pytest.approx(3.0)
  off = method.known_user_params(f, {"user": user}, 62, None, rated)
  assert not off["user_known"].any()


def test_the_fit_keeps_the_criterion_and_off_adds_nothing(tmp_path):
  config = tiny_config(write_dataset(str(tmp_path / "data")))
  config.method, config.model.residual = "mf_foldin", True
  config.mf_ranks, config.mf_regs = (2,), (1.0,)
  config.mf_fold_regs, config.mf_sweeps = (3.0,), 3
  prep = pipeline.prepare(config.data, 0)
  out = {}
  for name, precisions in (("off", ()), ("on", (1.0, 3.0))):
    config.mf_known_user_precisions = precisions
    method = registry.build(config, prep)
    runs = [engine.Run(config, prep, 0, str(tmp_path / name), method)]
    out[name] = engine.train(method, runs, config, str(tmp_path / name))
  off, on = (out[k].best_params[0] for k in ("off", "on"))
  assert "user_known" not in off  # Finished runs read back unchanged.
  rec = out["on"].records[0]
  assert set(rec["known_user_holdout_mae"]) == {"off", "1.0", "3.0"}
  chosen = rec["known_user_precision"]
  maes = rec["known_user_holdout_mae"]
  assert str(chosen if chosen is not None else "off") == min(maes,
                                                            key=maes.get)
  # Validation users are new: the criterion cannot see the prior.
  assert rec["best_validation_mae"] == out["off"].records[0][
      "best_validation_mae"]
  jax.tree.map(np.testing.assert_array_equal,
               {k: on[k] for k in off}, off)
  # The two fold-ins go through evaluation's catalogue path (adapt once,
  # score item chunks), in every scenario.
  method = registry.build(config, prep)
  out = evaluate.catalogue_metrics(prep, method, on, base.hparams(config),
                                   config)
  assert set(out["scenarios"]) == set(prep.scenario_names)
  with pytest.raises(Exception, match="mf_known_user_precisions"):
    config.mf_known_user_precisions = (0.0,)
    registry.build(config, prep)


HEADS_SCRIPT = r"""
import sys
import jax, jax.numpy as jnp, numpy as np
from metarec_jax.meta import ridge_head
T, S, d = 32, 96, 65
rng = np.random.default_rng(0)
phi = rng.normal(size=(T, S, d)).astype(np.float32)
y = rng.normal(size=(T, S)).astype(np.float32)
mask = (rng.uniform(size=(T, S)) < .5).astype(np.float32)
prior = rng.normal(size=(T, d)).astype(np.float32)
heads = jax.jit(jax.vmap(lambda p, yy, m, w0: ridge_head.posterior_means(
    p, yy, m, jnp.array([10.0, 3.0]), jnp.stack([jnp.zeros(d), w0]))))
one = jax.jit(jax.vmap(ridge_head.posterior_mean, (0, 0, 0, None, 0)))
for i in range(100):
  got = np.asarray(heads(phi, y + i * 1e-3, mask, prior))
want = [np.asarray(one(phi, y + 99e-3, mask, lam, w0))
        for lam, w0 in ((10.0, np.zeros((T, d), np.float32)), (3.0, prior))]
np.testing.assert_allclose(got[:, 0], want[0], rtol=1e-4, atol=1e-4)
np.testing.assert_allclose(got[:, 1], want[1], rtol=1e-4, atol=1e-4)
print("heads ok")
"""


def test_two_heads_solve_in_one_call_and_finish():
  """Two independent Cholesky calls in one program hung XLA's CPU runtime
  (jax 0.10.2: every thread idle, measured at these shapes); the k heads of
  posterior_means are one batched call. In a subprocess, so a hang fails
  the test at its timeout instead of stopping the suite. The rows equal
  posterior_mean's to float32 rounding (another program's fusion)."""
  import subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  proc = subprocess.run([sys.executable, "-c", HEADS_SCRIPT],
                        capture_output=True, text=True, timeout=120,
                        check=False)
  assert proc.returncode == 0 and "heads ok" in proc.stdout, proc.stderr[-2000:]
