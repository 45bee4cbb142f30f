"""Adversarial training of the embeddings (APR: He et al., SIGIR 2018).

The meta-step also takes the meta-loss at embeddings moved against the
model, theta + delta with delta = eps * g / ||g|| for each embedding leaf
(g: the meta-loss's gradient w.r.t. that leaf, held constant), and trains on

  loss(theta) + adversarial_weight * loss(theta + delta),

whose gradient is the clean one plus the weighted gradient at theta + delta.
To first order loss(theta + delta) = loss(theta) + eps * sum ||g||: the
perturbation of norm eps per leaf that raises the loss most. Both losses
use the same batch and key (the same item-id dropout), so the second is the
first at other embeddings. The leaves are chosen by name, here only.
"""

import jax
import jax.numpy as jnp

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params

# Param path names of the embeddings: FieldEmbed's feature tables, the
# item-id table, and the item text projection (its kernel and bias).
NAMES = ("embedding", "item_id", "item_text_proj")


def is_embedding(path) -> bool:
  """Whether a param leaf (its tree path) is perturbed."""
  return any(getattr(k, "key", None) in NAMES for k in path)


def check(params: Params, method_name: str) -> None:
  if not any(is_embedding(p) for p, _ in
             jax.tree_util.tree_leaves_with_path(params)):
    raise ConfigError(f"--config.adversarial_eps > 0 perturbs the embedding "
                      f"parameters (named {', '.join(NAMES)}); method "
                      f"{method_name} has none: set it to 0.")


def perturb(params: Params, grads: Params, eps) -> Params:
  """params with each embedding leaf moved by eps * g / ||g|| (its own
  norm; a leaf with a zero gradient stays), the others untouched."""
  def leaf(path, p, g):
    if not is_embedding(path):
      return p
    g = jax.lax.stop_gradient(g)
    norm = jnp.sqrt(jnp.sum(g * g))
    return p + eps * g / jnp.maximum(norm, jnp.finfo(g.dtype).tiny)
  return jax.tree_util.tree_map_with_path(leaf, params, grads)


def value_and_grad(loss_fn, method_name: str):
  """loss_fn(params, tables, batch, rng, hparams) -> (loss, aux) becomes
  (params, ...) -> ((loss, aux + {"adversarial_loss"}), grads of the
  objective above). loss stays the clean loss, comparable across runs.
  At adversarial_eps 0 the weight is 0, so the gradient is the clean one:
  runs with and without the term can share a step."""
  clean = jax.value_and_grad(loss_fn, has_aux=True)

  def fn(params, tables, batch, rng, hparams):
    check(params, method_name)  # At trace time, before any step runs.
    (loss, aux), grads = clean(params, tables, batch, rng, hparams)
    eps = hparams["adversarial_eps"]
    weight = jnp.where(eps > 0, hparams["adversarial_weight"], 0.0)
    (adv, _), adv_grads = clean(perturb(params, grads, eps), tables, batch,
                                rng, hparams)
    grads = jax.tree.map(lambda g, a: g + weight * a, grads, adv_grads)
    return (loss, {**aux, "adversarial_loss": adv}), grads

  return fn
