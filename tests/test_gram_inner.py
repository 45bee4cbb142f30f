"""The Gram-matrix inner loop computes what the generic inner loop computes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import melu as melu_config
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, gram_inner, inner, registry
from metarec_jax.models import melu


def _problem(s=12, q=10, d=20):
  rng = np.random.default_rng(0)
  mlp = melu.DecisionMLP((8, 6), output_bias=3.0)
  params = mlp.init(jax.random.key(0), jnp.zeros((2, d)))["params"]
  x_s = jnp.asarray(rng.normal(size=(s, d)), jnp.float32)
  x_q = jnp.asarray(rng.normal(size=(q, d)), jnp.float32)
  y_s = jnp.asarray(rng.integers(1, 6, s), jnp.float32)
  y_q = jnp.asarray(rng.integers(1, 6, q), jnp.float32)
  m_s = jnp.asarray(np.r_[np.ones(s - 3), np.zeros(3)], jnp.float32)
  return mlp, params, x_s, y_s, m_s, x_q, y_q


def _generic(mlp, params, x_s, y_s, m_s, x_q, lr, steps, first_order):
  def support_loss(p):
    return inner.masked_mse(mlp.apply({"params": p}, x_s), y_s, m_s)
  adapted, losses = inner.adapt(support_loss, params, lr, steps, first_order)
  return mlp.apply({"params": adapted}, x_q), losses


@pytest.mark.parametrize("first_order", [False, True])
def test_gram_form_matches_generic_predictions_and_meta_gradients(first_order):
  mlp, params, x_s, y_s, m_s, x_q, y_q = _problem()
  lr, steps = jnp.float32(0.05), 3

  def query_loss(fn, p, xs, xq):
    pred, _ = fn(p, xs, xq)
    return jnp.mean((pred - y_q) ** 2)

  generic = lambda p, xs, xq: _generic(mlp, p, xs, y_s, m_s, xq, lr, steps,
                                       first_order)
  gram = lambda p, xs, xq: gram_inner.adapt_and_predict(
      p, xs, y_s, m_s, xq, lr, steps, first_order, 2)
  pg, lg = generic(params, x_s, x_q)
  pf, lf = gram(params, x_s, x_q)
  np.testing.assert_allclose(pf, pg, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(lf, lg, rtol=1e-5, atol=1e-5)
  # Meta-gradients with respect to the initial params and the inputs (the
  # embeddings sit behind the inputs).
  g_gen = jax.grad(lambda *a: query_loss(generic, *a), (0, 1, 2))(
      params, x_s, x_q)
  g_gram = jax.grad(lambda *a: query_loss(gram, *a), (0, 1, 2))(
      params, x_s, x_q)
  for a, b in zip(jax.tree.leaves(g_gram), jax.tree.leaves(g_gen)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(g_gen[1]).max()) > 0 or first_order


def test_bfloat16_compute_path_stays_close_to_float32(ml100k_prep):
  config = melu_config.get_config("ml100k,smoke")
  config.inner_steps = 2
  tables = jax.tree.map(np.asarray, ml100k_prep.tables)
  tasks = ml100k_prep.test_tasks("user_item_cold")
  preds = {}
  for dtype in ("float32", "bfloat16"):
    config.compute_dtype = dtype
    method = registry.build(config, ml100k_prep)
    params = method.init(jax.random.key(0), tables)
    preds[dtype] = predict.predict_tasks(method, params, tables, tasks,
                                         base.hparams(config), 128, (96,))
  err = np.abs(preds["bfloat16"] - preds["float32"])
  # bfloat16 keeps 8 bits of mantissa: ratings near 3.5 round by ~0.01.
  assert err.mean() < 0.02 and err.max() < 0.1
  assert err.max() > 0  # It really ran in bfloat16.
