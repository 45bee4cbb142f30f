"""The closed-form heads' outer loss: MSE mixed with MAE (inner.query_loss)."""

import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.meta import inner


def test_query_loss_known_answers():
  pred = jnp.array([3.0, 4.0, 1.0, 9.0])
  target = jnp.array([1.0, 4.5, 1.5, 0.0])
  mask = jnp.array([1.0, 1.0, 1.0, 0.0])  # The last is padding.
  mse, mae = (4 + 0.25 + 0.25) / 3, (2 + 0.5 + 0.5) / 3
  np.testing.assert_allclose(inner.query_loss(pred, target, mask, 0.0), mse,
                             rtol=1e-6)
  np.testing.assert_allclose(inner.query_loss(pred, target, mask, 1.0), mae,
                             rtol=1e-6)
  np.testing.assert_allclose(inner.query_loss(pred, target, mask, 0.25),
                             0.75 * mse + 0.25 * mae, rtol=1e-6)
  # a = 0 is masked_mse bit for bit; a = 1 pulls toward the median.
  assert inner.query_loss(pred, target, mask, 0.0) == inner.masked_mse(
      pred, target, mask)
  g = jax.grad(lambda p: inner.query_loss(p, target, mask, 1.0))(pred)
  np.testing.assert_allclose(g, [1 / 3, -1 / 3, -1 / 3, 0.0], atol=1e-7)
