"""The defining properties of the id warm-up methods (meta/metaemb.py,
meta/mwuf.py), on test_methods.py's toy shapes; what every method promises
is test_conformance.py's."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core.types import Support
from metarec_jax.models.embeddings import task_inputs
from test_methods import HP, T, build, predict, toy_batch


def _no_id_dropout(method):
  return dataclasses.replace(method, model=dataclasses.replace(
      method.model, item_id_dropout=0.0))


def _mse(pred, target, mask):
  return jnp.sum(mask * (pred - target) ** 2) / jnp.maximum(jnp.sum(mask), 1)


def _task(batch, t) -> Support:
  return Support(batch.user[t], batch.support_items[t],
                 batch.support_ratings[t], batch.support_mask[t])


def test_metaemb_e0_depends_only_on_the_task_entitys_features():
  """Toy users 1 and 2 share their features (age 2), user 0 differs."""
  method, tables = build("metaemb", inner_steps=0)  # adapt returns e0.
  params = method.init(jax.random.key(0), tables)
  batch = toy_batch()
  same = batch.replace(user=np.array([1, 2, 0], np.int32),
                       support_ratings=batch.support_ratings[::-1],
                       support_items=batch.support_items[::-1])
  e0 = np.asarray(method.adapt(params, tables, same.support, HP))
  np.testing.assert_array_equal(e0[0], e0[1])  # Other support, same e0.
  assert np.abs(e0[0] - e0[2]).max() > 1e-4  # Other features, other e0.
  flipped = same.replace(support_ratings=(6.0 - same.support_ratings)
                         * same.support_mask)
  np.testing.assert_array_equal(
      method.adapt(params, tables, flipped.support, HP), e0)


def test_metaemb_meta_loss_is_alpha_cold_plus_warm_by_hand():
  """a: support MSE with e0 = tanh(f W) / 5; e1 = e0 - lr grad_e0 a; b:
  query MSE with e1; loss = mean over real tasks of alpha a + (1-alpha) b."""
  method, tables = build("metaemb")
  method = _no_id_dropout(method)
  params = method.init(jax.random.key(0), tables)
  batch = toy_batch()
  got, aux = jax.jit(method.meta_loss)(params, tables, batch,
                                       jax.random.key(1), HP)
  emb = method.model.embed_all(params, tables)
  kernel = params["generator"]["dense"]["kernel"]

  def mse_with(e, items, ratings, mask, user):
    x = task_inputs(emb, user, items)
    x = jnp.concatenate([x, jnp.tile(e[None], (x.shape[0], 1))], 1)
    return _mse(method.model.decide(params, x), ratings, mask)

  total = []
  for t in range(T):
    u = batch.user[t]
    e0 = jnp.tanh(emb.users[u] @ kernel) / 5.0
    cold = lambda e: mse_with(e, batch.support_items[t],
                              batch.support_ratings[t],
                              batch.support_mask[t], u)
    e1 = e0 - HP["inner_lr"] * jax.grad(cold)(e0)
    warm = mse_with(e1, batch.query_items[t], batch.query_ratings[t],
                    batch.query_mask[t], u)
    total.append(method.alpha * cold(e0) + (1 - method.alpha) * warm)
  real = batch.task_mask > 0
  want = np.sum(np.array(total) * real) / real.sum()
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert method.alpha == 0.1  # The paper's, from configs/melu.py.
  # Both terms count: they differ, so a wrong weighting would show.
  assert abs(float(aux["cold_loss"]) - float(aux["warm_loss"])) > 1e-3


def test_mwuf_shift_ignores_support_order_and_padding():
  method, tables = build("mwuf")
  params = method.init(jax.random.key(0), tables)
  emb = method.model.embed_all(params, tables)
  batch = toy_batch()

  def shift(s: Support):
    x_s = task_inputs(emb, s.user, s.items)
    return np.asarray(method.shift(params, emb, s, x_s))

  s = _task(batch, 1)  # Two real ratings, two padded slots.
  base_shift = shift(s)
  perm = np.array([3, 1, 0, 2])
  permuted = Support(s.user, s.items[perm], s.ratings[perm], s.mask[perm])
  np.testing.assert_allclose(shift(permuted), base_shift, rtol=1e-6)
  padded = s.replace(items=np.concatenate([s.items[:2], [6, 6]]).astype(
      np.int32))
  np.testing.assert_array_equal(shift(padded), base_shift)
  # A real slot's rater does count (so the checks above can fail).
  other = s.replace(items=np.concatenate([[6], s.items[1:]]).astype(
      np.int32))
  assert s.items[0] != 6 and np.abs(shift(other) - base_shift).max() > 1e-6


def test_mwuf_with_identity_meta_networks_is_the_model_with_init():
  """scale = 1, shift = 0 (set by hand): warm = init, so the predictions
  are the decision MLP's on [x, init]."""
  method, tables = build("mwuf", inner_steps=0)
  params = method.init(jax.random.key(0), tables)
  zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  params["scale"]["out"] = {"kernel": zeros(params["scale"]["out"]["kernel"]),
                            "bias": jnp.ones_like(
                                params["scale"]["out"]["bias"])}
  params["shift"]["out"] = zeros(params["shift"]["out"])
  batch = toy_batch()
  got = np.asarray(predict(method, params, tables, batch))
  emb = method.model.embed_all(params, tables)
  for t in range(T):
    x = task_inputs(emb, batch.user[t], batch.query_items[t])
    x = jnp.concatenate([x, jnp.tile(params["init"][None], (x.shape[0], 1))],
                        1)
    np.testing.assert_allclose(got[t], method.model.decide(params, x),
                               rtol=1e-6)
  # The hand-set networks matter: at init they give another answer.
  fresh = method.init(jax.random.key(0), tables)
  assert np.abs(np.asarray(predict(method, fresh, tables, batch))
                - got).max() > 1e-4


@pytest.mark.parametrize("name", ["metaemb", "mwuf"])
def test_support_ratings_reach_predictions_through_the_warm_up(name):
  """The start vector reads no rating (features; raters); the test-time
  warm-up steps on the support loss do."""
  batch = toy_batch()
  flipped = batch.replace(support_ratings=(6.0 - batch.support_ratings)
                          * batch.support_mask)
  for steps, moves in ((0, False), (2, True)):
    method, tables = build(name, inner_steps=steps)
    params = method.init(jax.random.key(0), tables)
    gap = np.abs(predict(method, params, tables, batch)
                 - predict(method, params, tables, flipped)).max()
    assert (gap > 1e-5) == moves, (steps, gap)
