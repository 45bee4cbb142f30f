"""`ridge`: an exact per-task ridge head on a meta-learned item representation.

phi(i) = the item's feature embeddings, its item-id embedding (the unknown-
item vector for a new item) and, in `ridge_text`, its projected text
embedding (models/embeddings.py), optionally through a learned layer
relu(Dense(dim)); then a constant 1, the task's own bias. Each task's head
is the posterior mean of ridge_head.posterior_mean on its support, under a
prior N(w0(u), Lambda^-1) whose mean is a linear function of the task
user's side features: a user with no ratings gets phi(i) . w0(u), a
feature-based prediction (MeLU's zero-shot), and each rating moves the head
by exactly as much as the learned prior allows. The outer loop (query MSE
after the solve) learns the embeddings, the layer, w0 and Lambda.

Lambda is per dimension (d + 1 log-precisions) rather than a scalar times
the identity: the bias should adapt from one rating while item directions
need many, and a dimension the data should never move (a purely global
feature) can learn a large precision. It is still only d + 1 numbers.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner, ridge_head

# Added to the learned precision: keeps the d x d system positive definite
# in float32 when a task has fewer ratings than dimensions.
MIN_PRECISION = 1e-3


def item_inputs(emb, items: jax.Array, drop=None) -> jax.Array:
  """An item's embedded features and id vector: items [n] -> [n, dx].
  drop [n] (bool) swaps in the unknown-item id vector, as
  embeddings.task_inputs does (the training signal for new items)."""
  parts = [emb.items[items]]
  if emb.ids is not None:
    ids = emb.ids[items]
    if drop is not None:
      ids = jnp.where(drop[:, None], emb.unknown[None, :], ids)
    parts.append(ids)
  return jnp.concatenate(parts, -1)


@dataclasses.dataclass(frozen=True)
class Ridge:
  """The ridge head on a feature model's embeddings (models/melu.py).

  Attributes:
    model: MeLUModel or a text variant: only its embeddings are used.
    dim: > 0 puts phi through relu(Dense(dim)); 0 uses the embeddings as
      they are (d = their width).
    init_precision: the prior precision every dimension starts at.
  """
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  dim: int = 0
  init_precision: float = 10.0

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_model, k_phi = jax.random.split(key)
    params = {k: v for k, v in self.model.init(k_model, tables).items()
              if k != "decision"}  # The MLP is not used; LoRA is kept.
    emb = self.model.embed_all(params, tables)
    width = item_inputs(emb, jnp.zeros((1,), jnp.int32)).shape[-1]
    if self.dim:
      params["phi"] = {
          "kernel": nn.initializers.lecun_normal()(k_phi, (width, self.dim)),
          "bias": jnp.zeros((self.dim,), jnp.float32)}
      width = self.dim
    # w0(u) starts at (0, ..., 0, output bias): the global mean, or the
    # floor itself for a residual model.
    bias = jnp.zeros((width + 1,), jnp.float32).at[-1].set(
        self.model.output_bias)
    params["prior"] = {
        "kernel": jnp.zeros((emb.users.shape[-1], width + 1), jnp.float32),
        "bias": bias,
        "log_precision": jnp.full((width + 1,), jnp.log(self.init_precision),
                                  jnp.float32)}
    return params

  def features(self, params, emb, items, drop=None) -> jax.Array:
    """phi(i) with the constant 1 appended: items [n] -> [n, d + 1]."""
    x = item_inputs(emb, items, drop)
    if self.dim:
      x = nn.relu(x @ params["phi"]["kernel"] + params["phi"]["bias"])
    return jnp.concatenate([x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], -1)

  def prior(self, params, emb, user) -> tuple[jax.Array, jax.Array]:
    """The task user's prior: (mean w0 [d + 1], precision [d + 1])."""
    p = params["prior"]
    mean = emb.users[user] @ p["kernel"] + p["bias"]
    return mean, jnp.exp(p["log_precision"]) + MIN_PRECISION

  def adapt_task(self, params, emb, support: Support, drop=None):
    """One task (unbatched fields) -> its head w [d + 1]."""
    mean, precision = self.prior(params, emb, support.user)
    phi = self.features(params, emb, support.items, drop)
    return ridge_head.posterior_mean(phi, support.ratings, support.mask,
                                     precision, mean)

  def predict_task(self, params, emb, w, query: Query, drop=None):
    return self.features(params, emb, query.items, drop) @ w

  def adapt(self, params, tables, support: Support, hparams):
    del hparams  # The prior is learned; no inner rate.
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda s: self.adapt_task(params, emb, s))(support)

  def predict(self, params, tables, adapted, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda w, q: self.predict_task(params, emb, w, q))(
        adapted, query)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean query loss after the solve (MSE, or partly MAE with hparams
    l1_weight > 0), item ids dropped at random."""
    l1 = hparams.get("l1_weight", 0.0)
    emb = self.model.embed_all(params, tables)
    r_s, r_q = jax.random.split(rng)
    drop_s = self.model.drop_ids(r_s, batch.support_items.shape)
    drop_q = self.model.drop_ids(r_q, batch.query_items.shape)

    def task_loss(task: TaskBatch, d_s, d_q):
      w = self.adapt_task(params, emb, task.support, d_s)
      pred = self.predict_task(params, emb, w, task.query, d_q)
      return inner.query_loss(pred, task.query_ratings, task.query_mask, l1)

    losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
    return base.task_mean(losses, batch.task_mask), {}


def check_precision(config) -> float:
  """config.model.ridge_precision, which must be positive."""
  value = config.model.ridge_precision
  if not value > 0:
    raise ConfigError(f"--config.model.ridge_precision={value}: must be > 0.")
  return float(value)


def build(config, model) -> Ridge:
  if config.model.ridge_dim < 0:
    raise ConfigError(f"--config.model.ridge_dim={config.model.ridge_dim}: "
                      "0 (no layer) or a layer width > 0.")
  return Ridge(model, dim=config.model.ridge_dim,
               init_precision=check_precision(config))
