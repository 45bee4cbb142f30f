"""The closed-form ridge head (meta/ridge_head.py) and the methods on it:
`ridge` (meta-learned representation) and `content` (fixed content).

Known answers in float64: the solve is numpy.linalg.lstsq of the augmented
system [sqrt(M) Phi; sqrt(Lambda)] w = [sqrt(M) y; sqrt(Lambda) w0]; the
kernel form gives the same predictions; the meta-gradient through the solve
matches central finite differences; padding changes nothing; an empty
support gives the prior mean's prediction.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import melu as melu_config
from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import TaskBatch
from metarec_jax.meta import base, content, ridge, ridge_head
from metarec_jax.models import melu as melu_model
from metarec_jax.models import text_melu

HP = {"inner_lr": np.float32(0.0), "bias_prior": np.float32(0.0),
      "support_prior": np.float32(0.0)}


def lstsq_head(phi, y, mask, precision, prior_mean):
  """The posterior mean as the least-squares solution of the augmented
  system, in numpy float64."""
  a = np.concatenate([np.sqrt(mask)[:, None] * phi,
                      np.diag(np.sqrt(precision))])
  b = np.concatenate([np.sqrt(mask) * y, np.sqrt(precision) * prior_mean])
  return np.linalg.lstsq(a, b, rcond=None)[0]


def problem(seed=0, s=7, d=4):
  r = np.random.default_rng(seed)
  mask = np.ones(s)
  mask[-2:] = 0.0
  return (r.normal(size=(s, d)), r.normal(size=s), mask,
          np.exp(r.normal(size=d)), r.normal(size=d))


def test_posterior_mean_is_the_augmented_least_squares_solution():
  phi, y, mask, precision, w0 = problem()
  with jax.enable_x64(True):
    got = ridge_head.posterior_mean(*map(jnp.asarray,
                                         (phi, y, mask, precision, w0)))
  np.testing.assert_allclose(got, lstsq_head(phi, y, mask, precision, w0),
                             rtol=1e-10, atol=1e-12)
  # A scalar precision is that precision on every dimension.
  with jax.enable_x64(True):
    scalar = ridge_head.posterior_mean(*map(jnp.asarray,
                                            (phi, y, mask, 2.0, w0)))
  np.testing.assert_allclose(scalar, lstsq_head(phi, y, mask, np.full(4, 2.0),
                                                w0), rtol=1e-10)


def test_kernel_form_gives_the_same_predictions():
  phi, y, mask, precision, w0 = problem(1, s=6, d=9)  # d > S: kernel's case
  phi_q = np.random.default_rng(2).normal(size=(3, 9))
  with jax.enable_x64(True):
    kern = lambda a, b: (a / precision) @ b.T
    alpha = ridge_head.dual_coefficients(jnp.asarray(kern(phi, phi)),
                                         jnp.asarray(y - phi @ w0),
                                         jnp.asarray(mask))
    got = phi_q @ w0 + kern(phi_q, phi) @ np.asarray(alpha)
  want = phi_q @ lstsq_head(phi, y, mask, precision, w0)
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
  assert np.all(np.asarray(alpha)[mask == 0] == 0)


def test_padding_and_an_empty_support():
  phi, y, mask, precision, w0 = problem(3)
  args = lambda p, v: map(jnp.asarray, (p, v, mask, precision, w0))
  with jax.enable_x64(True):
    w = ridge_head.posterior_mean(*args(phi, y))
    # Any features and ratings on masked rows: the same head.
    junk_phi, junk_y = phi.copy(), y.copy()
    junk_phi[mask == 0], junk_y[mask == 0] = 1e3, -1e3
    np.testing.assert_array_equal(
        ridge_head.posterior_mean(*args(junk_phi, junk_y)), w)
    empty = ridge_head.posterior_mean(*map(jnp.asarray, (
        phi, y, np.zeros_like(mask), precision, w0)))
  np.testing.assert_allclose(empty, w0, rtol=1e-12)
  assert np.abs(np.asarray(w) - w0).max() > 1e-2  # The support moved it.


def test_meta_gradient_through_the_solve_matches_finite_differences():
  """d(query MSE after the solve)/d(features, log precision, prior mean)
  against central differences, float64."""
  phi, y, mask, precision, w0 = problem(4)
  r = np.random.default_rng(5)
  phi_q, y_q = r.normal(size=(5, 4)), r.normal(size=5)

  def loss(theta):
    proj, log_p, mean = theta
    w = ridge_head.posterior_mean(jnp.asarray(phi) @ proj, jnp.asarray(y),
                                  jnp.asarray(mask), jnp.exp(log_p), mean)
    return jnp.mean((jnp.asarray(phi_q) @ proj @ w - y_q) ** 2)

  with jax.enable_x64(True):
    theta = (jnp.asarray(np.eye(4) + 0.1 * r.normal(size=(4, 4))),
             jnp.asarray(np.log(precision)), jnp.asarray(w0))
    grad = jax.grad(loss)(theta)
    for seed in range(3):
      v = jax.tree.map(lambda x, s=seed: jnp.asarray(np.random.default_rng(
          10 + s).normal(size=x.shape)), theta)
      step = lambda e: jax.tree.map(lambda x, u: x + e * u, theta, v)
      fd = (loss(step(1e-6)) - loss(step(-1e-6))) / 2e-6
      an = sum(jnp.sum(g * u) for g, u in zip(grad, v))
      np.testing.assert_allclose(float(an), float(fd), rtol=1e-6)


# Methods on a toy catalogue: 2 users, 6 items (3 existing, 3 new).
def toy_tables(text=True):
  r = np.random.default_rng(0)
  tables = {"user": {"age": np.array([[1], [2]], np.int32)},
            "item": {"genre": np.array([[1, 2], [2, 0], [1, 0], [3, 0],
                                        [2, 3], [3, 1]], np.int32)},
            "item_id": np.array([1, 2, 3, 0, 0, 0], np.int32),
            "item_mean": np.full(6, 3.5, np.float32)}
  if text:
    t = r.normal(size=(6, 5))
    tables["item_text"] = (t / np.linalg.norm(t, axis=1, keepdims=True)
                           ).astype(np.float32)
  return tables


def toy_batch(mask_last=True):
  f = lambda x: jnp.asarray(x, jnp.float32)
  return TaskBatch(
      user=jnp.array([0, 1], jnp.int32),
      support_items=jnp.array([[0, 1, 2, 4], [1, 2, 5, 0]], jnp.int32),
      support_ratings=f([[5, 3, 4, 2], [2, 4, 1, 0]]),
      support_mask=f([[1, 1, 1, 1], [1, 1, 1, 0]]),
      query_items=jnp.array([[3, 4], [5, 3]], jnp.int32),
      query_ratings=f([[4, 2], [5, 1]]),
      query_mask=f([[1, 1], [1, 1]]), task_mask=f([1, 1]))


def toy_ridge(dim=0, text=False):
  cls = text_melu.TextMeLUModel if text else melu_model.MeLUModel
  kw = {"text_dim": 3} if text else {}
  model = cls(user_fields=(("age", 2),), item_fields=(("genre", 3),),
              embed_dim=4, hidden=(8,), num_item_ids=3, item_id_dropout=0.3,
              output_bias=0.0, **kw)
  return ridge.Ridge(model, dim=dim)


def _perturbed(params, seed=1):
  """Params with a non-zero prior mean (init's is 0 but for the bias)."""
  leaves, tree = jax.tree.flatten(params)
  r = np.random.default_rng(seed)
  return jax.tree.unflatten(tree, [x + 0.3 * r.normal(size=x.shape).astype(
      np.float32) for x in leaves])


@pytest.mark.parametrize("dim,text", [(0, False), (6, True)])
def test_ridge_adapt_is_the_lstsq_head_on_its_features(dim, text):
  method, tables, batch = toy_ridge(dim, text), toy_tables(), toy_batch()
  params = _perturbed(method.init(jax.random.key(0), tables))
  assert "decision" not in params
  w = np.asarray(method.adapt(params, tables, batch.support, HP), np.float64)
  emb = method.model.embed_all(params, tables)
  for t in range(2):
    phi = np.asarray(method.features(params, emb, batch.support_items[t]),
                     np.float64)
    w0, precision = map(np.asarray, method.prior(params, emb, t))
    want = lstsq_head(phi, np.asarray(batch.support_ratings[t], np.float64),
                      np.asarray(batch.support_mask[t], np.float64),
                      precision.astype(np.float64), w0.astype(np.float64))
    np.testing.assert_allclose(w[t], want, rtol=2e-4, atol=2e-5)
  # phi: embeddings (+ text), id vector (unknown for new items), then 1.
  width = 4 + 4 + (3 if text else 0)
  phi = method.features(params, emb, jnp.array([0, 3, 4]))
  assert phi.shape == (3, (dim or width) + 1)
  np.testing.assert_array_equal(phi[:, -1], 1.0)


def test_ridge_padding_and_zero_shot():
  method, tables = toy_ridge(), toy_tables(text=False)
  batch = toy_batch()
  params = _perturbed(method.init(jax.random.key(0), tables))
  pred = base.adapted_predictions(method, params, tables, batch, HP)
  # Task 1's padded slot: any item and rating there changes nothing.
  moved = batch.replace(support_items=batch.support_items.at[1, 3].set(4),
                        support_ratings=batch.support_ratings.at[1, 3].set(9))
  np.testing.assert_allclose(base.adapted_predictions(
      method, params, tables, moved, HP), pred, rtol=1e-6)
  # No ratings: phi(i) . w0(u), a prediction from the user's features.
  empty = batch.replace(support_mask=jnp.zeros_like(batch.support_mask))
  got = base.adapted_predictions(method, params, tables, empty, HP)
  emb = method.model.embed_all(params, tables)
  for t in range(2):
    want = method.features(params, emb, batch.query_items[t]) @ (
        method.prior(params, emb, t)[0])
    np.testing.assert_allclose(got[t], want, rtol=1e-5)
  assert np.abs(np.asarray(got[0] - got[1])).max() > 0  # Users differ.


def test_ridge_meta_loss_trains_the_unknown_id_and_the_prior():
  method, tables, batch = toy_ridge(), toy_tables(False), toy_batch()
  params = method.init(jax.random.key(0), tables)
  grads = jax.grad(lambda p: method.meta_loss(
      p, tables, batch, jax.random.key(3), HP)[0])(params)
  assert float(jnp.abs(grads["embed"]["item_id"][0]).sum()) > 0
  assert float(jnp.abs(grads["prior"]["log_precision"]).sum()) > 0
  assert float(jnp.abs(grads["prior"]["kernel"]).sum()) > 0


def explicit_content_phi(tables, blocks):
  """Every item's content features, written out by hand: genre multi-hot
  over values 1..3 divided by the value count, text, then 1; and the block
  of each column."""
  genre = tables["item"]["genre"]
  hot = np.zeros((6, 3))
  for i, row in enumerate(genre):
    vals = [v for v in row if v > 0]
    for v in vals:
      hot[i, v - 1] += 1.0 / len(vals)
  parts, names = [hot], ["field_genre"] * 3
  if "item_text" in blocks:
    parts.append(np.asarray(tables["item_text"], np.float64))
    names += ["item_text"] * tables["item_text"].shape[1]
  parts.append(np.ones((6, 1)))
  return np.concatenate(parts, 1), names + ["bias"]


@pytest.mark.parametrize("text", [True, False])
def test_content_is_the_lstsq_head_on_explicit_features(text):
  tables, batch = toy_tables(text), toy_batch()
  method = content.ContentBaseline((("genre", 3),))
  params = _perturbed(method.init(None, tables), seed=4)
  assert set(params["prior_mean"]) == {"bias", "field_genre"} | (
      {"item_text"} if text else set())
  pred = np.asarray(base.adapted_predictions(method, params, tables, batch,
                                             HP))
  phi, blocks = explicit_content_phi(tables, params["prior_mean"])
  precision = np.array([np.exp(float(params["log_precision"][b]))
                        for b in blocks])
  w0_parts = [np.asarray(params["prior_mean"]["field_genre"][1:])]
  if text:
    w0_parts.append(np.asarray(params["prior_mean"]["item_text"]))
  w0 = np.concatenate(w0_parts + [[float(params["prior_mean"]["bias"])]])
  for t in range(2):
    s = np.asarray(batch.support_items[t])
    w = lstsq_head(phi[s], np.asarray(batch.support_ratings[t], np.float64),
                   np.asarray(batch.support_mask[t], np.float64), precision,
                   w0)
    np.testing.assert_allclose(pred[t], phi[np.asarray(
        batch.query_items[t])] @ w, rtol=1e-4, atol=1e-5)
  # An empty support scores the prior mean's content regression.
  empty = batch.replace(support_mask=jnp.zeros_like(batch.support_mask))
  np.testing.assert_allclose(
      base.adapted_predictions(method, params, tables, empty, HP),
      phi[np.asarray(batch.query_items)] @ w0, rtol=1e-5, atol=1e-6)


def test_content_learns_only_the_prior():
  tables, batch = toy_tables(), toy_batch()
  method = content.ContentBaseline((("genre", 3),))
  params = method.init(None, tables)
  grads = jax.grad(lambda p: method.meta_loss(p, tables, batch, None, HP)[0])(
      params)
  assert set(grads) == {"prior_mean", "log_precision"}
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
  assert float(jnp.abs(grads["log_precision"]["item_text"])) > 0
  # The text is read: a new item's text moves its score, and only its.
  pred = lambda t: np.asarray(base.adapted_predictions(
      method, params, t, batch, HP))
  other = dict(tables, item_text=tables["item_text"].copy())
  other["item_text"][3] = -other["item_text"][3]  # Queried, in no support.
  diff = np.abs(pred(other) - pred(tables))
  assert diff[0, 0] > 1e-4 and diff[1, 1] > 1e-4
  assert diff[0, 1] == 0 and diff[1, 0] == 0


def test_overlap_counts_shared_values():
  a = jnp.array([[1, 2, 0], [3, 0, 0]])
  b = jnp.array([[2, 0, 0], [1, 2, 3], [0, 0, 0]])
  np.testing.assert_allclose(content.overlap(a, b),
                             [[1 / 2, 2 / 6, 0], [0, 1 / 3, 0]], rtol=1e-6)
  np.testing.assert_allclose(content.multi_hot_mean(
      jnp.array([9.0, 1.0, 2.0, 4.0]), a), [1.5, 4.0])


def test_bad_ridge_settings_name_the_field():
  config = melu_config.get_config("ml100k")
  model = toy_ridge().model
  assert ridge.build(config, model).init_precision == 10.0
  config.model.ridge_precision = 0.0
  for build in (ridge.build, content.build):
    with pytest.raises(ConfigError, match="model.ridge_precision=0.0"):
      build(config, model)
  config.model.ridge_precision, config.model.ridge_dim = 1.0, -2
  with pytest.raises(ConfigError, match="model.ridge_dim=-2"):
    ridge.build(config, model)
