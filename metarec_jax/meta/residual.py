"""Any method as a residual to the item-mean + user-bias floor.

offset(u, i) = item_mean[i] + b_u, b_u = sum over the task's K support
ratings of (r - item_mean[i]) / (K + bias_prior). With bias_prior = 0 (the
default) this is exactly the `item_mean_user_bias` floor, computed from the
same information a floor may use (meta-training ratings and the task's own
support). bias_prior > 0 is the regularised user bias of Koren's baseline
predictors (Koren, KDD 2008: b_u = sum(r - mu_i) / (lambda + |R(u)|)): it
shrinks a bias read from a handful of ratings toward zero, where the plain
mean trusts one rating fully (on ML-1M, item_mean + bias at K = 1 has MAE
~0.93 against ~0.77 for item_mean alone). It is a traced hyperparameter
(hparams["bias_prior"]), so a sweep vmaps over it; the floors never shrink.
The wrapped method sees ratings minus the offset, in support and query
alike, and its prediction is added back. A model whose output is
zero therefore IS the floor, so meta-learning only has to learn what the
floor misses (the "item bias + user bias + MLP" structure).

The item means themselves can be shrunk: with item_prior = m > 0 an item
seen n times in meta-training gets (n * mean + m * global mean) / (n + m),
the same regularised baseline on the item side. It matters where items are
rated once or twice (Book-Crossing: most books), where a raw item mean is
one rating's noise; m = 0 (the default) is the plain mean, bit for bit.

Reads tables["item_mean"] float32 [I], and for the shrinkage
tables["item_count"] float32 [I] and tables["global_mean"] [] (all from
data/pipeline.py; hand-made tables without a count are never shrunk); the
wrapped model's output bias starts at 0 (meta/registry.py builds it so
when model.residual).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base as base_lib


def item_means(tables: dict, item_prior=None) -> jax.Array:
  """[I] the residual base's item means, shrunk toward the global mean by
  item_prior pseudo-ratings (none: the plain means)."""
  mean = jnp.asarray(tables["item_mean"])
  if item_prior is None or "item_count" not in tables:
    return mean
  count = jnp.asarray(tables["item_count"])
  # A new item (count 0) keeps its fallback, the global mean, at any prior.
  weight = item_prior / jnp.maximum(count + item_prior, 1e-6)
  return mean + weight * (jnp.asarray(tables["global_mean"]) - mean)


def user_bias(tables: dict, support: Support, bias_prior=0.0,
              item_prior=None) -> jax.Array:
  """[T]: the support's mean residual to the item means, shrunk by the
  prior (sum / (K + bias_prior))."""
  item_mean = item_means(tables, item_prior)
  resid = support.mask * (support.ratings - item_mean[support.items])
  # max(., 1) only matters for an empty support, whose numerator is 0.
  return jnp.sum(resid, -1) / jnp.maximum(
      jnp.sum(support.mask, -1) + bias_prior, 1.0)


def offsets(tables: dict, items: jax.Array, bias: jax.Array,
            item_prior=None) -> jax.Array:
  """The floor's prediction for items [T, n]: item mean + user bias."""
  return item_means(tables, item_prior)[items] + bias[:, None]


@dataclasses.dataclass(frozen=True)
class Residual:
  """Wraps a method: it learns what the item-mean + user-bias floor misses.

  scale: the wrapped method sees residuals divided by it and its output is
  multiplied back, so a model trained on one rating scale reads another's
  residuals in the units it knows (1..10 Book-Crossing ratings with scale
  2.25 look like 1..5 MovieLens ones). 1 changes nothing, bit for bit.
  """
  base: object
  scale: float = 1.0

  @property
  def rows_from_tables(self) -> bool:  # Its item means are a table.
    return base_lib.rows_from_tables(self.base)

  @property
  def pretrainer(self):
    """The base's pretrainer, fitted to the same residuals."""
    inner_fit = base_lib.pretrainer(self.base)
    return None if inner_fit is None else Residual(inner_fit, self.scale)

  @property
  def closed_form(self) -> bool:
    return base_lib.closed_form(self.base)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.base.init(key, tables)

  def fit(self, seed, tables, ratings: dict, hparams, validate):
    """A closed-form base fitted on the meta-training ratings minus their
    offsets, each user's bias read from all of their ratings (as
    meta_loss reads it from a task's support); the base learns the offset
    per item (item_offset) for items it must fill in from features."""
    # The offsets predict() adds: item means shrunk by item_prior, the
    # residual in the base's units (divided by scale).
    item_mean = np.asarray(item_means(tables, hparams.get("item_prior")),
                           np.float64)
    users = ratings["user"]
    resid = np.asarray(ratings["rating"], np.float64) - item_mean[
        ratings["item"]]
    n = len(next(iter(tables["user"].values())))
    bias = np.bincount(users, resid, n) / np.maximum(
        np.bincount(users, minlength=n) + float(hparams["bias_prior"]), 1.0)
    return self.base.fit(seed, tables, {**ratings, "rating":
                                        (resid - bias[users]) / self.scale},
                         hparams, validate,
                         item_offset=item_mean / self.scale)

  def adapt(self, params, tables, support: Support, hparams):
    m = hparams.get("item_prior")
    bias = user_bias(tables, support, hparams["bias_prior"], m)
    o_s = offsets(tables, support.items, bias, m)
    residuals = support.replace(
        ratings=(support.ratings - o_s) / self.scale * support.mask)
    # The shrunk item prior rides along: predict needs the same means.
    return {"base": self.base.adapt(params, tables, residuals, hparams),
            "bias": bias, "item_prior": jnp.zeros_like(bias) + (
                0.0 if m is None else m)}

  def predict(self, params, tables, adapted, query: Query):
    m = adapted["item_prior"][0]
    return (self.base.predict(params, tables, adapted["base"], query)
            * self.scale + offsets(tables, query.items, adapted["bias"], m))

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    m = hparams.get("item_prior")
    bias = user_bias(tables, batch.support, hparams["bias_prior"], m)
    o_s = offsets(tables, batch.support_items, bias, m)
    o_q = offsets(tables, batch.query_items, bias, m)
    residuals = batch.replace(
        support_ratings=(batch.support_ratings - o_s) / self.scale
        * batch.support_mask,
        query_ratings=(batch.query_ratings - o_q) / self.scale
        * batch.query_mask)
    return self.base.meta_loss(params, tables, residuals, rng, hparams)
