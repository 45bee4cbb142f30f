"""The inner loop: gradient steps on the adapted leaves, as a lax.scan.

Which leaves adapt is a label pytree of bools (the model's adapt_labels);
`partition` splits params into (adapted, frozen) flat dicts keyed by path, and
`merge` puts them back, so every algorithm can adapt any subset.
"""

from typing import Callable

import jax
import jax.numpy as jnp
from flax import traverse_util

from metarec_jax.core.types import Params


def partition(params: Params, labels: Params) -> tuple[dict, dict]:
  flat = traverse_util.flatten_dict(params)
  flat_labels = traverse_util.flatten_dict(labels)
  adapted = {k: v for k, v in flat.items() if flat_labels[k]}
  frozen = {k: v for k, v in flat.items() if not flat_labels[k]}
  return adapted, frozen


def merge(adapted: dict, frozen: dict) -> Params:
  return traverse_util.unflatten_dict({**frozen, **adapted})


def masked_mse(pred: jax.Array, target: jax.Array, mask: jax.Array
               ) -> jax.Array:
  return jnp.sum(mask * (pred - target) ** 2) / jnp.maximum(jnp.sum(mask), 1.0)


def query_loss(pred: jax.Array, target: jax.Array, mask: jax.Array,
               l1_weight=0.0) -> jax.Array:
  """The outer loss of the closed-form heads: (1 - a) MSE + a MAE with a =
  l1_weight (traced). The tables report MAE, which the median minimises
  and the mean (MSE's minimiser) does not; a = 0 is plain MSE, exactly."""
  err = mask * (pred - target)
  n = jnp.maximum(jnp.sum(mask), 1.0)
  mse, mae = jnp.sum(err ** 2) / n, jnp.sum(jnp.abs(err)) / n
  return mse + l1_weight * (mae - mse)


def task_rate(lr, support_mask: jax.Array, hparams: dict):
  """The inner learning rate for one task: lr * K / (K + support_prior).

  An SGD step at this rate on the support's mean squared error is a step at
  rate lr on sum / (K + support_prior): the support counts as K ratings plus
  `support_prior` pseudo-ratings that pull nowhere, so a task with 3 ratings
  moves its weights less than one with 90 (the mean loss moves both alike
  and overfits small supports). support_prior = 0 leaves lr unchanged.
  `lr` may be a pytree (Meta-SGD's per-parameter rates).
  """
  n = jnp.sum(support_mask)
  scale = n / jnp.maximum(n + hparams.get("support_prior", 0.0), 1.0)
  return jax.tree.map(lambda a: a * scale, lr)


def adapt(loss_fn: Callable[[dict], jax.Array], adapted: dict,
          lr: jax.Array, steps: int, first_order: bool
          ) -> tuple[dict, jax.Array]:
  """Runs `steps` SGD steps on loss_fn(adapted); returns (adapted, losses).

  Second order: gradients flow through the inner updates (exact MAML
  meta-gradient). First order: each inner gradient is a constant to the
  outer gradient (FOMAML), which drops the Hessian-vector terms.
  `lr` is a traced scalar or a pytree like `adapted` (Meta-SGD).
  """
  def step(p, _):
    loss, grads = jax.value_and_grad(loss_fn)(p)
    if first_order:
      grads = jax.lax.stop_gradient(grads)
    lrs = lr if isinstance(lr, dict) else jax.tree.map(lambda _: lr, p)
    # Each weight keeps its dtype (a float32 rate would promote bfloat16
    # weights: meta/mixed_precision.py).
    return jax.tree.map(lambda w, g, a: (w - a * g).astype(w.dtype), p,
                        grads, lrs), loss

  return jax.lax.scan(step, adapted, None, length=steps)
