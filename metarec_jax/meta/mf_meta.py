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
    ratings gets a feature-based prediction;
  - a cold-item path. An item is cold when it has no meta-training rating
    (tables["item_id"] == 0, the embedder's unknown-id convention); it then
    reads its cold row (cold_bias, cold_factors: mf_foldin's content
    regression, held fixed) plus a learned correction g(item) = Dense(the
    item's content embedding: its field embeddings and, when the tables
    hold item text, its projected text), weights shared by all items. No
    training task rates a new item, so meta-training drops each support
    and query item with probability cold_dropout (MeLU's item-id dropout)
    and scores it through its cold row, a rated item's cold row being its
    leave-one-out content prediction: g learns to correct what the
    content regression gets wrong on items it has not seen.
It starts where mf_foldin ends: a table row of it sets init_from to the
same seed's mf_foldin run (a run without init_from fits its own first:
the `pretrainer`) (train/init_from.py copies mu, b_i, q_i, the cold
rows and lambda_fold; the prior mean and g start at 0 and the
per-dimension factors at 1), so at step 0 it predicts exactly as
mf_foldin, new items included, and selection on validation users (which
scores the start as step 0) can only keep what meta-training improves.
Validation users rate existing items only: selection sees the cold path
only through what its training does to the shared parameters.
Its parameters are indexed by item, so it always gets the full tables.

With known users (config mf_known_user_precisions, as in mf_foldin), an
existing user scores items with no pool rating through a second fold-in
around their pool solution (meta/known_users.py), copied with its
precision from an mf_foldin run that chose it on a pool holdout (init_from,
or the pretrainer). Only evaluation reads it: meta-training's tasks are
pool users whose pool solutions have seen their query ratings, so
meta_loss never does, and training (validation users are new) is mf_meta's.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner, known_users, mf_foldin, ridge_head


@dataclasses.dataclass(frozen=True)
class MFMeta:
  """Meta-learned MF fold-in (module docstring).

  Attributes:
    model: the feature model whose user embeddings feed the prior mean and
      whose item embeddings feed the cold-row correction.
    rank: the factor table's width (mf_foldin's largest rank, so its
      fitted parameters carry over leaf for leaf).
    fold_reg: lambda_fold before a fit is copied in.
    pretrainer: an MFFoldIn with the config's grid, fitted first when a
      run has no init_from (scripts/main.py --config.method=mf_meta).
    cold_dropout: during meta-training, each item's chance of being scored
      through its cold row.
  """
  model: object
  rank: int = 64
  fold_reg: float = 3.0
  cold_dropout: float = 0.2
  # The mf_foldin it starts from when no init_from says which run
  # (engine.pretrain fits it on the run's own data and validation users).
  pretrainer: object = None
  # Whether its parameters hold known users' pool solutions (docstring).
  known_users: bool = False

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_model, k_q = jax.random.split(key)
    n = len(tables["item_id"])
    embed = self.model.init(k_model, tables)["embed"]
    emb = self.model.embed_all({"embed": embed}, tables)
    width = self.rank + 1
    # All unknown (off) until a fit is copied in.
    known = (known_users.unknown(len(emb.users), width, n)
             if self.known_users else {})
    return {**known,
            "mu": jnp.zeros((), jnp.float32),
            "item_bias": jnp.zeros((n,), jnp.float32),
            "item_factors": 0.1 * jax.random.normal(k_q, (n, self.rank),
                                                    jnp.float32),
            "cold_bias": jnp.zeros((n,), jnp.float32),
            "cold_factors": jnp.zeros((n, self.rank), jnp.float32),
            "log_fold_reg": jnp.log(jnp.float32(self.fold_reg)),
            "log_precision_scale": jnp.zeros((width,), jnp.float32),
            "prior_kernel": jnp.zeros((emb.users.shape[-1], width),
                                      jnp.float32),
            # Zero: the cold path starts as mf_foldin's content regression.
            "cold_kernel": jnp.zeros((emb.items.shape[-1], width),
                                     jnp.float32),
            "cold_offset": jnp.zeros((width,), jnp.float32),
            "embed": embed}

  def embedded(self, params, tables) -> tuple[jax.Array, jax.Array]:
    """(every user's embedding [U, du], every item's cold-row correction
    g(item) [I, R + 1]: factors, then bias)."""
    emb = self.model.embed_all({"embed": params["embed"]}, tables)
    return emb.users, emb.items @ params["cold_kernel"] + params[
        "cold_offset"]

  def rows(self, params, tables, corrections, items, drop):
    """(mu + b_i [n], (q_i, 1) [n, R + 1]) of items [n]: their warm rows,
    or, where an item is new or dropped (drop [n] bool), its cold row."""
    def row(bias, factors):
      return jnp.concatenate([jnp.asarray(factors)[items],
                              jnp.asarray(bias)[items][:, None]], -1)
    # The cold rows stay the content regression's: only g learns.
    cold_row = jax.lax.stop_gradient(row(params["cold_bias"],
                                         params["cold_factors"]))
    cold = (jnp.asarray(tables["item_id"])[items] == 0) | drop
    chosen = jnp.where(cold[:, None], cold_row + corrections[items],
                       row(params["item_bias"], params["item_factors"]))
    q = chosen[:, :-1]
    return params["mu"] + chosen[:, -1], jnp.concatenate(
        [q, jnp.ones(q.shape[:-1] + (1,), q.dtype)], -1)

  def adapt_task(self, params, tables, embedded, support: Support,
                 drop, known: bool = False) -> jax.Array:
    """One task: its (p_u, b_u) [R + 1]; embedded: self.embedded. known
    (evaluation only, params with known users): [2, R + 1], the second
    row around a known user's pool solution, for new items."""
    users, corrections = embedded
    level, phi = self.rows(params, tables, corrections, support.items, drop)
    prior = users[support.user] @ params["prior_kernel"]
    # Exactly mf_foldin's precision at the start (scale factors 1).
    precision = jnp.exp(params["log_fold_reg"]
                        + params["log_precision_scale"])
    if not known:
      return ridge_head.posterior_mean(phi, support.ratings - level,
                                       support.mask, precision, prior)
    pool, pool_precision = known_users.prior(params, support.user, prior,
                                             precision)
    return ridge_head.posterior_means(
        phi, support.ratings - level, support.mask,
        jnp.stack([precision, jnp.broadcast_to(pool_precision,
                                               precision.shape)]),
        jnp.stack([prior, pool.astype(prior.dtype)]))

  def predict_task(self, params, tables, corrections, w, items,
                   drop) -> jax.Array:
    level, phi = self.rows(params, tables, corrections, items, drop)
    return level + known_users.scores(params, items, phi, w)

  def fold_in(self, params, tables, embedded, support: Support, drop_s,
              query_items, drop_q) -> jax.Array:
    """[T, Q] predictions of query_items after each task's fold-in; drop_s
    [T, S] and drop_q [T, Q]: the items scored through their cold rows
    although warm."""
    w = jax.vmap(lambda s, d: self.adapt_task(params, tables, embedded, s,
                                              d))(support, drop_s)
    return jax.vmap(lambda w, i, d: self.predict_task(
        params, tables, embedded[1], w, i, d))(w, query_items, drop_q)

  def adapt(self, params, tables, support: Support, hparams):
    del hparams  # The prior is learned.
    embedded = self.embedded(params, tables)
    return jax.vmap(lambda s: self.adapt_task(
        params, tables, embedded, s, jnp.zeros(s.items.shape, bool),
        known="user_known" in params))(support)

  def predict(self, params, tables, adapted, query: Query):
    corrections = self.embedded(params, tables)[1]
    return jax.vmap(lambda w, i: self.predict_task(
        params, tables, corrections, w, i, jnp.zeros(i.shape, bool)))(
            adapted, query.items)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Query loss (MSE, or with hparams l1_weight > 0 partly MAE: inner.
    query_loss) after the fold-in, each support and query item scored
    through its cold row with probability cold_dropout."""
    r_s, r_q = jax.random.split(rng)
    pred = self.fold_in(
        params, tables, self.embedded(params, tables), batch.support,
        jax.random.bernoulli(r_s, self.cold_dropout, batch.support_items.shape),
        batch.query_items,
        jax.random.bernoulli(r_q, self.cold_dropout, batch.query_items.shape))
    l1 = hparams.get("l1_weight", 0.0)
    losses = jax.vmap(lambda p, y, m: inner.query_loss(p, y, m, l1))(
        pred, batch.query_ratings, batch.query_mask)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> MFMeta:
  rate = float(config.model.item_id_dropout)
  if not 0.0 <= rate <= 1.0:
    raise ConfigError(f"--config.model.item_id_dropout={rate}: mf_meta's "
                      "cold-path dropout is a probability in [0, 1].")
  # No item-id vectors: an item's identity is its own row here.
  return MFMeta(dataclasses.replace(model, num_item_ids=0),
                rank=max(config.mf_ranks),
                fold_reg=float(config.mf_fold_regs[0]), cold_dropout=rate,
                pretrainer=mf_foldin.build(config, None),
                known_users=bool(config.get("mf_known_user_precisions")))
