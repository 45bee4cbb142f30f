"""The meta-gradient against its closed form on a linear model.

f(x) = w.x, squared loss, one inner step with rate a:
  w' = w - a g_s(w),  g(w) = (2/n) X^T (X w - y)
  second order: dL_q(w')/dw = (I - a H_s) g_q(w'),  H_s = (2/n) Xs^T Xs
  first order:  g_q(w')
"""

import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.meta import inner


def _problem():
  rng = np.random.default_rng(0)
  xs, ys = rng.normal(size=(6, 3)), rng.normal(size=6)
  xq, yq = rng.normal(size=(4, 3)), rng.normal(size=4)
  w = rng.normal(size=3)
  return xs, ys, xq, yq, w


def _meta_grad(first_order: bool, a: float = 0.1):
  xs, ys, xq, yq, w = _problem()
  ones_s, ones_q = jnp.ones(6), jnp.ones(4)

  def outer(w):
    support = lambda p: inner.masked_mse(xs @ p["w"], ys, ones_s)
    adapted, _ = inner.adapt(support, {"w": w}, jnp.float32(a), 1,
                             first_order)
    return inner.masked_mse(xq @ adapted["w"], yq, ones_q)

  return np.asarray(jax.grad(outer)(jnp.asarray(w, jnp.float32)))


def _closed_form(a: float = 0.1):
  xs, ys, xq, yq, w = _problem()
  g_s = 2 / 6 * xs.T @ (xs @ w - ys)
  h_s = 2 / 6 * xs.T @ xs
  w1 = w - a * g_s
  g_q = 2 / 4 * xq.T @ (xq @ w1 - yq)
  return (np.eye(3) - a * h_s) @ g_q, g_q


def test_second_order_matches_closed_form():
  second, _ = _closed_form()
  np.testing.assert_allclose(_meta_grad(False), second, rtol=1e-5, atol=1e-6)


def test_first_order_drops_the_hessian_term():
  second, first = _closed_form()
  got = _meta_grad(True)
  np.testing.assert_allclose(got, first, rtol=1e-5, atol=1e-6)
  assert np.abs(got - second).max() > 1e-3


def test_several_steps_reduce_support_loss():
  xs, ys, _, _, w = _problem()
  support = lambda p: inner.masked_mse(xs @ p["w"], ys, jnp.ones(6))
  _, losses = inner.adapt(support, {"w": jnp.asarray(w, jnp.float32)},
                          jnp.float32(0.05), 10, False)
  assert np.all(np.diff(np.asarray(losses)) < 0)


def test_masked_entries_do_not_count():
  pred = jnp.array([1.0, 2.0, 100.0])
  target = jnp.array([0.0, 0.0, 0.0])
  mask = jnp.array([1.0, 1.0, 0.0])
  assert float(inner.masked_mse(pred, target, mask)) == 2.5


def test_support_prior_is_a_step_on_the_pseudo_count_loss():
  """task_rate: one step at lr K / (K + p) on the mean loss equals the
  closed form w - lr (2 / (K + p)) X^T (X w - y) on the 4 real ratings of a
  support padded to 6; p = 0 keeps lr (Meta-SGD pytrees scale per leaf)."""
  xs, ys, _, _, w = _problem()
  mask = jnp.array([1, 1, 1, 1, 0, 0], jnp.float32)
  support = lambda p: inner.masked_mse(xs @ p["w"], ys, mask)
  lr, p = 0.1, 6.0
  rate = inner.task_rate(jnp.float32(lr), mask, {"support_prior": p})
  adapted, _ = inner.adapt(support, {"w": jnp.asarray(w, jnp.float32)},
                           rate, 1, False)
  x, y = xs[:4], ys[:4]
  want = w - lr * 2 / (4 + p) * x.T @ (x @ w - y)
  np.testing.assert_allclose(adapted["w"], want, rtol=1e-5, atol=1e-6)
  assert float(inner.task_rate(jnp.float32(lr), mask, {})) == np.float32(lr)
  tree = inner.task_rate({"a": jnp.full(2, lr)}, mask, {"support_prior": p})
  np.testing.assert_allclose(tree["a"], lr * 4 / (4 + p), rtol=1e-6)
