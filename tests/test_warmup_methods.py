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


def _with_rate(params, seed=3):
  """A learned-looking warm-up rate: log_rate away from 0, per dim."""
  rng = np.random.default_rng(seed)
  log_rate = rng.normal(0.0, 0.05, params["log_rate"].shape)
  return {**params, "log_rate": jnp.asarray(log_rate, jnp.float32)}


# A support prior too, so that the rate's per-task shrinkage is exercised.
HP_PRIOR = {**HP, "support_prior": np.float32(2.0)}


def test_metaemb_meta_loss_is_alpha_cold_plus_warm_by_hand():
  """a: support MSE with e0 = tanh(f W) / 5; e_K: K = inner_steps SGD steps
  on a at the rate inner_lr * exp(10 log_rate) * n / (n + prior); b:
  query MSE with e_K; loss = mean over real tasks of alpha a + (1-alpha) b."""
  method, tables = build("metaemb")
  method = _no_id_dropout(method)
  params = _with_rate(method.init(jax.random.key(0), tables))
  batch = toy_batch()
  got, aux = jax.jit(method.meta_loss)(params, tables, batch,
                                       jax.random.key(1), HP_PRIOR)
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
    n = batch.support_mask[t].sum()
    rate = (HP["inner_lr"] * np.exp(10.0 * params["log_rate"]) * n
            / (n + HP_PRIOR["support_prior"]))
    e = e0
    for _ in range(method.inner_steps):
      e = e - rate * jax.grad(cold)(e)
    warm = mse_with(e, batch.query_items[t], batch.query_ratings[t],
                    batch.query_mask[t], u)
    total.append(method.alpha * cold(e0) + (1 - method.alpha) * warm)
  real = batch.task_mask > 0
  want = np.sum(np.array(total) * real) / real.sum()
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert method.alpha == 0.1  # The paper's, from configs/melu.py.
  assert method.inner_steps == 2  # The warm-up has steps to get wrong.
  # Both terms count: they differ, so a wrong weighting would show.
  assert abs(float(aux["cold_loss"]) - float(aux["warm_loss"])) > 1e-3


def _query_mse(batch, pred):
  """Mean over the real tasks of each task's query MSE, in numpy."""
  pred = np.asarray(pred, np.float64)
  err = np.sum(batch.query_mask * (pred - batch.query_ratings) ** 2, -1)
  per_task = err / np.maximum(batch.query_mask.sum(-1), 1.0)
  return np.sum(per_task * batch.task_mask) / batch.task_mask.sum()


@pytest.mark.parametrize("name", ["metaemb", "mwuf"])
def test_meta_loss_scores_the_evaluations_warm_up(name):
  """Trained as evaluated: the query part of the meta-loss is the query
  MSE of adapt then predict (base.adapted_predictions, the path of
  evaluation and serving) on the same batch; mwuf's loss is that part."""
  method, tables = build(name)
  method = _no_id_dropout(method)
  params = _with_rate(method.init(jax.random.key(0), tables))
  batch = toy_batch()
  loss, aux = jax.jit(method.meta_loss)(params, tables, batch,
                                        jax.random.key(1), HP_PRIOR)
  want = _query_mse(batch, predict(method, params, tables, batch, HP_PRIOR))
  np.testing.assert_allclose(float(aux["warm_loss"]), want, rtol=1e-5)
  if name == "mwuf":
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  # The warm-up matters here, so the match is not by default.
  cold, _ = build(name, inner_steps=0)
  cold = _no_id_dropout(cold)
  assert abs(_query_mse(batch, predict(cold, params, tables, batch,
                                       HP_PRIOR)) - want) > 1e-4


@pytest.mark.parametrize("name", ["metaemb", "mwuf"])
def test_no_warm_up_steps_is_the_no_warm_up_loss(name):
  """inner_steps = 0: the query MSE with the start vector itself (and, for
  metaemb, alpha times the support MSE with it), computed by hand; the
  rate then gets no gradient."""
  method, tables = build(name, inner_steps=0)
  method = _no_id_dropout(method)
  params = _with_rate(method.init(jax.random.key(0), tables))
  batch = toy_batch()
  emb = method.model.embed_all(params, tables)
  total = []
  for t in range(T):
    s = _task(batch, t)
    x_s = task_inputs(emb, s.user, s.items)
    x_q = task_inputs(emb, s.user, batch.query_items[t])
    e = method.start(params, emb, s, x_s)
    with_e = lambda x: jnp.concatenate(
        [x, jnp.tile(e[None], (x.shape[0], 1))], 1)
    b = _mse(method.model.decide(params, with_e(x_q)),
             batch.query_ratings[t], batch.query_mask[t])
    a = _mse(method.model.decide(params, with_e(x_s)), s.ratings, s.mask)
    w = method.alpha if name == "metaemb" else 0.0
    total.append(w * a + (1 - w) * b)
  real = batch.task_mask > 0
  want = np.sum(np.array(total) * real) / real.sum()
  loss, grads = jax.jit(jax.value_and_grad(lambda p: method.meta_loss(
      p, tables, batch, jax.random.key(1), HP_PRIOR)[0]))(params)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  np.testing.assert_array_equal(grads["log_rate"], 0.0)


def _to64(tree):
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                      if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                      else jnp.asarray(x), tree)


@pytest.mark.parametrize("name", ["metaemb", "mwuf"])
def test_rate_meta_gradient_matches_finite_differences(name):
  """d meta_loss / d log_rate against central differences in
  float64, per dimension; first order (not the default) misses it."""
  method, tables = build(name)
  assert not method.first_order  # configs/melu.py's default.
  params = _with_rate(method.init(jax.random.key(0), tables))
  batch = toy_batch()
  with jax.enable_x64(True):
    p, t, b, h = _to64((params, tables, batch, HP_PRIOR))
    rng = jax.random.key(1)

    def grad_fn(m):
      return jax.jit(jax.value_and_grad(
          lambda r: m.meta_loss({**p, "log_rate": r}, t, b, rng,
                                h)[0]))

    fn = grad_fn(method)
    log_rate = p["log_rate"]
    _, grad = fn(log_rate)
    eps = 1e-6
    fd = np.array([(fn(log_rate.at[i].add(eps))[0]
                    - fn(log_rate.at[i].add(-eps))[0]) / (2 * eps)
                   for i in range(log_rate.shape[0])])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    assert np.abs(fd).max() > 1e-4  # The rate matters to the loss.
    first_order = dataclasses.replace(method, first_order=True)
    first = grad_fn(first_order)(log_rate)[1]
    assert np.abs(first - fd).max() > 1e-3 * np.abs(fd).max()


@pytest.mark.parametrize("name", ["metaemb", "mwuf"])
def test_padding_changes_neither_loss_nor_gradient(name):
  """Padded support slots (their items and ratings) and a padding task
  (all of it) do not reach the meta-loss or its gradient."""
  method, tables = build(name)
  params = _with_rate(method.init(jax.random.key(0), tables))
  batch = toy_batch()
  pad = batch.support_mask == 0
  assert pad[:2].any() and batch.task_mask[2] == 0  # Both kinds present.
  changed = batch.replace(
      support_items=np.where(pad, 6, batch.support_items).astype(np.int32),
      support_ratings=np.where(pad, 5.0, batch.support_ratings).astype(
          np.float32),
      query_ratings=batch.query_ratings.copy(),
      query_items=batch.query_items.copy())
  changed.query_ratings[2] = 6.0 - changed.query_ratings[2]
  changed.query_items[2] = (changed.query_items[2] + 1) % 7
  changed.support_ratings[2] += 3.0
  fn = jax.jit(jax.value_and_grad(lambda p, x: method.meta_loss(
      p, tables, x, jax.random.key(1), HP_PRIOR)[0]))
  (loss, grad), (loss2, grad2) = fn(params, batch), fn(params, changed)
  np.testing.assert_allclose(float(loss2), float(loss), rtol=1e-6)
  for g, g2 in zip(jax.tree.leaves(grad), jax.tree.leaves(grad2)):
    np.testing.assert_allclose(g2, g, rtol=1e-5, atol=1e-7)
  # A real slot does count (so the checks above can fail).
  ratings = batch.support_ratings.copy()
  ratings[0, 0] += 1.5
  real = batch.replace(support_ratings=ratings)
  assert abs(float(fn(params, real)[0]) - float(loss)) > 1e-4


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
