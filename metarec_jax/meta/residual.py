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
(hparams["bias_prior"]), so a sweep vmaps over it; the floors never shrink. The wrapped method sees ratings minus the offset, in support
and query alike, and its prediction is added back. A model whose output is
zero therefore IS the floor, so meta-learning only has to learn what the
floor misses (the "item bias + user bias + MLP" structure).

Needs tables["item_mean"] float32 [I] (add_item_means); the wrapped model's
output bias should start at 0 (methods build it so when model.residual).
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from metarec_jax.types import Params, PRNGKey, TaskBatch


def add_item_means(prep) -> None:
  """Puts the meta-training item means into prep.tables (float32 [I])."""
  prep.tables = {**prep.tables, "item_mean": np.asarray(
      prep.floor_stats.item_mean, np.float32)}


def offsets(tables: dict, batch: TaskBatch, bias_prior=0.0):
  """(support offsets [T, S], query offsets [T, Q])."""
  item_mean = jnp.asarray(tables["item_mean"])
  m_s, m_q = item_mean[batch.support_items], item_mean[batch.query_items]
  mask = batch.support_mask
  # max(., 1) only matters for an empty support, whose numerator is 0.
  bias = jnp.sum(mask * (batch.support_ratings - m_s), -1) / jnp.maximum(
      jnp.sum(mask, -1) + bias_prior, 1.0)
  return m_s + bias[:, None], m_q + bias[:, None]


@dataclasses.dataclass(frozen=True)
class Residual:
  """Wraps a method (init / loss / predict) around the floor's offset."""
  base: object

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.base.init(key, tables)

  def residual_batch(self, tables: dict, batch: TaskBatch, hparams):
    o_s, o_q = offsets(tables, batch, hparams.get("bias_prior", 0.0))
    return batch.replace(
        support_ratings=(batch.support_ratings - o_s) * batch.support_mask,
        query_ratings=(batch.query_ratings - o_q) * batch.query_mask), o_q

  def loss(self, params, tables, batch: TaskBatch, rng, hparams):
    res, _ = self.residual_batch(tables, batch, hparams)
    return self.base.loss(params, tables, res, rng, hparams)

  def predict(self, params, tables, batch: TaskBatch, hparams):
    res, o_q = self.residual_batch(tables, batch, hparams)
    return self.base.predict(params, tables, res, hparams) + o_q

  def __getattr__(self, name):  # labels, model, ... of the wrapped method.
    if name == "base":  # Not yet set (copy, unpickling): no recursion.
      raise AttributeError(name)
    return getattr(self.base, name)
