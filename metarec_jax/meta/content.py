"""`content`: the ridge head of meta/ridge.py on a fixed content representation.

phi(i) = the item's content, not learned: per feature field, the
mean-normalised multi-hot of its values (genres, actors, ...: MeLU's
averaged multi-hot before any embedding), the frozen sentence embedding
tables["item_text"] when item text is on, and a constant 1. Each task's
head is the exact ridge posterior mean on its support under a prior
N(w0, Lambda^-1); the outer loop learns only Lambda (one log-precision per
block: bias, each field, text) and w0 (a weight per feature value and text
dimension: a content regression shared by every user, which scores a new
item before anyone rated it). Beside `ridge`, whose representation is meta-
learned, the table shows what learning the representation adds.

A multi-hot over ML-1M's ~10K directors and actors is too wide for the d x d
solve, so the head runs in kernel form (ridge_head.dual_coefficients, the
same posterior mean): k(i, j) = sum over blocks of phi_b(i) . phi_b(j) /
lambda_b, where a field's dot product is the count of shared values over
the product of the two value counts, computed from the index tables.
Without item text it runs on the fields alone.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner, ridge, ridge_head

TEXT, BIAS = "item_text", "bias"


def overlap(a: jax.Array, b: jax.Array) -> jax.Array:
  """Dot products of the mean-normalised multi-hot rows of two index
  tables a [n, w], b [m, w] (1-based values, 0 = padding): [n, m]."""
  same = (a[:, None, :, None] == b[None, :, None, :]) & (
      a[:, None, :, None] > 0)
  count = lambda x: jnp.maximum(jnp.sum(x > 0, -1), 1).astype(jnp.float32)
  return jnp.sum(same, (-1, -2)) / (count(a)[:, None] * count(b)[None, :])


def multi_hot_mean(weights: jax.Array, idx: jax.Array) -> jax.Array:
  """phi_f(i) . w for per-value weights [V + 1]: idx [n, w] -> [n]."""
  mask = idx > 0
  return jnp.sum(jnp.where(mask, weights[idx], 0.0), -1) / jnp.maximum(
      jnp.sum(mask, -1), 1)


@dataclasses.dataclass(frozen=True)
class ContentBaseline:
  """The ridge head on fixed content features.

  Attributes:
    item_fields: ((name, vocab_size), ...) of tables["item"].
    init_precision: the prior precision every block starts at.
  """
  rows_from_tables = True  # Users and items via the tables only.
  item_fields: tuple
  init_precision: float = 10.0

  def init(self, key: PRNGKey, tables: dict) -> Params:
    del key  # Nothing random: w0 starts at 0 (a residual model's floor).
    mean = {f"field_{k}": jnp.zeros((v + 1,), jnp.float32)
            for k, v in self.item_fields}
    mean[BIAS] = jnp.zeros((), jnp.float32)
    if TEXT in tables:
      mean[TEXT] = jnp.zeros((tables[TEXT].shape[-1],), jnp.float32)
    log_p = jnp.log(jnp.float32(self.init_precision))
    return {"prior_mean": mean,
            "log_precision": {k: log_p for k in mean}}

  def prior_mean(self, params, tables, items) -> jax.Array:
    """phi(i) . w0 for items [n] -> [n]."""
    w0 = params["prior_mean"]
    out = jnp.broadcast_to(w0[BIAS], items.shape)
    for k, _ in self.item_fields:
      out = out + multi_hot_mean(w0[f"field_{k}"],
                                 jnp.asarray(tables["item"][k])[items])
    if TEXT in w0:
      out = out + jnp.asarray(tables[TEXT])[items] @ w0[TEXT]
    return out

  def kernel(self, params, tables, a, b) -> jax.Array:
    """phi(a) Lambda^-1 phi(b)^T for items a [n], b [m] -> [n, m]."""
    scale = jax.tree.map(lambda x: jnp.exp(-x), params["log_precision"])
    out = jnp.full((a.shape[0], b.shape[0]), scale[BIAS])
    for k, _ in self.item_fields:
      table = jnp.asarray(tables["item"][k])
      out = out + scale[f"field_{k}"] * overlap(table[a], table[b]).astype(
          out.dtype)  # The params' dtype (meta/mixed_precision.py).
    if TEXT in scale:
      text = jnp.asarray(tables[TEXT])
      out = out + scale[TEXT] * text[a] @ text[b].T
    return out

  def adapt_task(self, params, tables, support: Support) -> dict:
    """One task -> {items [S], alpha [S]}: the head in kernel form."""
    k = self.kernel(params, tables, support.items, support.items)
    resid = support.ratings - self.prior_mean(params, tables, support.items)
    return {"items": support.items,
            "alpha": ridge_head.dual_coefficients(k, resid, support.mask)}

  def predict_task(self, params, tables, state, query_items) -> jax.Array:
    k = self.kernel(params, tables, query_items, state["items"])
    return self.prior_mean(params, tables, query_items) + k @ state["alpha"]

  def adapt(self, params, tables, support: Support, hparams):
    del hparams
    return jax.vmap(lambda s: self.adapt_task(params, tables, s))(support)

  def predict(self, params: Params, tables: dict, adapted,
              query: Query) -> jax.Array:
    return jax.vmap(lambda a, q: self.predict_task(params, tables, a, q))(
        adapted, query.items)

  def meta_loss(self, params: Params, tables: dict, batch: TaskBatch, rng,
                hparams):
    del rng
    pred = base.adapted_predictions(self, params, tables, batch, hparams)
    losses = jax.vmap(inner.masked_mse)(pred, batch.query_ratings,
                                        batch.query_mask)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> ContentBaseline:
  # Only the model's field list: its embeddings are not used.
  return ContentBaseline(tuple(model.item_fields),
                         ridge.check_precision(config))
