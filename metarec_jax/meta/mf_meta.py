"""`mf_meta`: matrix factorisation whose fold-in is meta-learned.

mf_foldin (meta/mf_foldin.py) folds a new user in by a ridge of their
support onto fixed item factors (1, q_i), under a prior N(0, 1/lambda_fold)
chosen on validation users. That fold-in is a closed-form inner loop, so
the outer loop can learn, through it, everything it depends on (the
R2D2 / MetaOptNet recipe, here on MF's representation):
  - the item factors q_i and biases b_i, now for the fold-in from K
    ratings (the query error after the solve), not for reconstructing the
    pool;
  - a prior precision per dimension (lambda_fold times a learned factor):
    the user bias may move from one rating while factor directions need
    many;
  - a prior mean w0(u) from the user's side features: a user with no
    ratings gets a feature-based prediction.
It starts where mf_foldin ends: a table row of it sets init_from to the
same seed's mf_foldin run (train/init_from.py copies mu, b_i, q_i and
lambda_fold; the prior mean starts at 0 and the per-dimension factors at
1), so at step 0 it predicts exactly as mf_foldin, and selection on
validation users (which scores the start as step 0) can only keep what
meta-training improves. New items (no meta-training ratings) keep the
content regression's factors of the fit: no training task reads them.
Its parameters are indexed by item, so it always gets the full tables.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner, ridge_head

@dataclasses.dataclass(frozen=True)
class MFMeta:
  """Meta-learned MF fold-in (module docstring).

  Attributes:
    model: the feature model whose user embeddings feed the prior mean.
    rank: the factor table's width (mf_foldin's largest rank, so its
      fitted parameters carry over leaf for leaf).
    fold_reg: lambda_fold before a fit is copied in.
  """
  model: object
  rank: int = 64
  fold_reg: float = 3.0

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_model, k_q = jax.random.split(key)
    n = len(tables["item_id"])
    embed = self.model.init(k_model, tables)["embed"]
    width = self.model.embed_all({"embed": embed}, tables).users.shape[-1]
    return {"mu": jnp.zeros((), jnp.float32),
            "item_bias": jnp.zeros((n,), jnp.float32),
            "item_factors": 0.1 * jax.random.normal(k_q, (n, self.rank),
                                                    jnp.float32),
            "log_fold_reg": jnp.log(jnp.float32(self.fold_reg)),
            "log_precision_scale": jnp.zeros((self.rank + 1,), jnp.float32),
            "prior_kernel": jnp.zeros((width, self.rank + 1), jnp.float32),
            "embed": embed}

  def features(self, params, items) -> jax.Array:
    """(q_i, 1) for items [n] -> [n, R + 1]."""
    q = jnp.asarray(params["item_factors"])[items]
    return jnp.concatenate([q, jnp.ones(q.shape[:-1] + (1,), q.dtype)], -1)

  def item_level(self, params, items) -> jax.Array:
    return params["mu"] + jnp.asarray(params["item_bias"])[items]

  def adapt_task(self, params, users, support: Support) -> jax.Array:
    """One task: its (p_u, b_u) [R + 1]; users: every user's embedding."""
    phi = self.features(params, support.items)
    y = support.ratings - self.item_level(params, support.items)
    prior = users[support.user] @ params["prior_kernel"]
    # Exactly mf_foldin's precision at the start (scale factors 1).
    precision = jnp.exp(params["log_fold_reg"]
                        + params["log_precision_scale"])
    return ridge_head.posterior_mean(phi, y, support.mask, precision, prior)

  def users(self, params, tables) -> jax.Array:
    return self.model.embed_all({"embed": params["embed"]}, tables).users

  def adapt(self, params, tables, support: Support, hparams):
    del hparams  # The prior is learned.
    users = self.users(params, tables)
    return jax.vmap(lambda s: self.adapt_task(params, users, s))(support)

  def predict(self, params, tables, adapted, query: Query):
    del tables
    return jax.vmap(lambda w, items: self.item_level(params, items)
                    + self.features(params, items) @ w)(adapted, query.items)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Query MSE after the fold-in."""
    del rng
    pred = base.adapted_predictions(self, params, tables, batch, hparams)
    losses = jax.vmap(inner.masked_mse)(pred, batch.query_ratings,
                                        batch.query_mask)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> MFMeta:
  return MFMeta(model, rank=max(config.mf_ranks),
                fold_reg=float(config.mf_fold_regs[0]))
