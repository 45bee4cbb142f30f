"""MeLU's inner loop, reformulated so the first layer is never copied per task.

The support inputs x_s [S, D] are fixed during adaptation, so after k SGD
steps the first-layer kernel is W1_k = W1_0 - lr * sum_j x_s^T d1_j, where d1_j
is the loss gradient with respect to that layer's pre-activation. Every
first-layer product can then be written with the task's Gram matrices:

  z1_support = x_s W1_0 + G_ss C_k + b1_k,   G_ss = x_s x_s^T   [S, S]
  z1_query   = x_q W1_0 + G_qs C_k + b1_k,   G_qs = x_q x_s^T   [Q, S]
  C_{k+1}    = C_k - lr * d1_k                                    [S, H]

This computes exactly what meta/inner.adapt computes for a DecisionMLP with
all its layers adapted at a scalar rate (tests/test_gram_inner.py checks
predictions and meta-gradients against it), but holds an [S, H] coefficient
per task instead of a [D, H] kernel, and needs no x_s^T d1 product per step:
with D = 224 and S <= 96 that is most of the inner loop's work.
"""

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params

Array = jax.Array


def _upper(z1, params, num_hidden: int):
  """Layers after the first pre-activation: relu, hidden Denses, output."""
  h = jax.nn.relu(z1)
  for i in range(2, num_hidden + 1):
    layer = params[f"fc{i}"]
    h = jax.nn.relu(h @ layer["kernel"] + layer["bias"])
  return (h @ params["out"]["kernel"] + params["out"]["bias"])[..., 0]


def adapt(decision: Params, x_s: Array, y_s: Array, m_s: Array, lr,
          steps: int, first_order: bool, num_hidden: int):
  """One task: `steps` SGD steps on the support, in Gram form.

  decision: DecisionMLP params {fc1, ..., fc<num_hidden>, out}.
  x_s [S, D], y_s [S], m_s [S] (mask).
  Returns (state for `predict`, support losses [steps]); the state holds the
  [S, H] first-layer coefficient, the adapted bias and upper layers, and the
  support inputs the Gram matrices are taken against.
  """
  w1 = decision["fc1"]["kernel"]
  a_s = x_s @ w1
  # First order treats the inner updates x_s^T C as constants, so x_s must
  # not reach the query loss through the Gram matrices either.
  x_s_t = jax.lax.stop_gradient(x_s) if first_order else x_s
  g_ss = x_s @ x_s_t.T
  rest = {k: v for k, v in decision.items() if k != "fc1"}
  denom = jnp.maximum(jnp.sum(m_s), 1.0)

  def support_loss(offset, b1, rest, coef):
    z1 = a_s + g_ss @ coef + b1 + offset
    pred = _upper(z1, rest, num_hidden)
    return jnp.sum(m_s * (pred - y_s) ** 2) / denom

  def step(carry, _):
    coef, b1, rest = carry
    offset = jnp.zeros_like(a_s)
    loss, (d1, g_b1, g_rest) = jax.value_and_grad(support_loss, (0, 1, 2))(
        offset, b1, rest, coef)
    if first_order:
      d1, g_b1, g_rest = jax.lax.stop_gradient((d1, g_b1, g_rest))
    rest = jax.tree.map(lambda w, g: w - lr * g, rest, g_rest)
    return (coef - lr * d1, b1 - lr * g_b1, rest), loss

  init = (jnp.zeros_like(a_s), decision["fc1"]["bias"], rest)
  # Unrolled: as a while loop, XLA stores each step's residuals in
  # [steps, ...] buffers and slices them back in the backward pass, which
  # cost more than the few small matmuls themselves.
  (coef, b1, rest), losses = jax.lax.scan(step, init, None, length=steps,
                                             unroll=True)
  return {"coef": coef, "b1": b1, "rest": rest, "x_s": x_s_t}, losses


def predict(decision: Params, state: dict, x_q: Array,
            num_hidden: int) -> Array:
  """Query predictions [Q] of the adapted task: x_q [Q, D]."""
  a_q = x_q @ decision["fc1"]["kernel"]
  g_qs = x_q @ state["x_s"].T
  z1_q = a_q + g_qs @ state["coef"] + state["b1"]
  return _upper(z1_q, state["rest"], num_hidden)


def adapt_and_predict(decision: Params, x_s: Array, y_s: Array, m_s: Array,
                      x_q: Array, lr, steps: int, first_order: bool,
                      num_hidden: int):
  """adapt then predict: (query predictions [Q], support losses [steps])."""
  state, losses = adapt(decision, x_s, y_s, m_s, lr, steps, first_order,
                        num_hidden)
  return predict(decision, state, x_q, num_hidden), losses
