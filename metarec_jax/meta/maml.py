"""MAML, first-order MAML and ANIL on the MeLU architecture.

One task-level learner whose adapted leaves are chosen by `leaves`:
  "all"      every parameter, feature embeddings included (MAML, Finn et al.
             2017). The embeddings are then recomputed inside the inner loop
             from the adapted tables, and only the rows the task's support
             reads are adapted (local_rows.py: exact, and a task never
             copies the catalogue's tables).
  "decision" the decision MLP (MeLU's choice; Meta-SGD builds on this).
  "head"     only the output layer (ANIL, Raghu et al. 2020): the body is a
             shared feature extractor, the head a per-user linear model.
`first_order` stops the gradient through the inner gradients (FOMAML).

Regularisation in the non-adapted parts: item-id dropout (the model's) and
`input_dropout` on the embedded features during meta-training only.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import traverse_util

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner, local_rows
from metarec_jax.models import embeddings

LEAVES = ("all", "decision", "head")


def task_tables(tables: dict, user: jax.Array, items: jax.Array) -> dict:
  """The feature-table rows of one task: user -> [1, w], items [n] -> [n, w]."""
  out = {"user": {k: jnp.asarray(v)[user][None]
                  for k, v in tables["user"].items()},
         "item": {k: jnp.asarray(v)[items] for k, v in tables["item"].items()},
         "item_id": jnp.asarray(tables["item_id"])[items]}
  if "item_text" in tables:  # Frozen text embeddings (data.text_features).
    out["item_text"] = jnp.asarray(tables["item_text"])[items]
  return out


def input_dropout(rng: PRNGKey | None, x: jax.Array, rate: float):
  if rng is None or rate <= 0:
    return x
  keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0)


@dataclasses.dataclass(frozen=True)
class MAML:
  """Gradient-based meta-learner; `leaves` picks the adapted leaves."""
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  inner_steps: int = 5
  first_order: bool = False
  leaves: str = "all"
  input_dropout: float = 0.0

  def __post_init__(self):
    if self.leaves not in LEAVES:
      raise ValueError(f"leaves={self.leaves!r}; choose from {LEAVES}")

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.model.init(key, tables)

  def labels(self, params: Params) -> Params:
    """True for the leaves the inner loop adapts."""
    def adapted(path):
      if self.leaves == "all":
        return path[0] in ("embed", "decision")
      if self.leaves == "decision":
        return path[0] == "decision"
      return path[:2] == ("decision", "out")
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({k: adapted(k) for k in flat})

  def rates(self, params: Params, adapted: dict, hparams):
    """Inner learning rate: a traced scalar (Meta-SGD returns a pytree)."""
    del params, adapted
    return hparams["inner_lr"]

  def inputs(self, embed: Params, rows: dict, drop_ids, rng,
             embedder=None) -> jax.Array:
    """x [n, d]: model inputs of a task's n items from their table rows."""
    embedder = embedder or self.model.embedder
    emb = embedder.apply({"params": embed}, rows)
    n = rows["item_id"].shape[0]
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.arange(n), drop_ids)
    return input_dropout(rng, x, self.input_dropout)

  def adapt_task(self, params, tables, support: Support, hparams,
                 first_order: bool, drop=None, rng=None) -> dict:
    """One task (unbatched fields) -> {"leaves": adapted leaves, "rows":
    global ids of the local table rows (None unless the embeddings adapt)}."""
    rows = task_tables(tables, support.user, support.items)
    embedder, row_ids, embeds_adapt = None, None, self.leaves == "all"
    if embeds_adapt:  # Adapt only the table rows the support reads.
      local, rows, row_ids = local_rows.localize(params["embed"], rows)
      params = {**params, "embed": local}
      embedder = local_rows.local_embedder(self.model.embedder, local)
    adapted, frozen = inner.partition(params, self.labels(params))
    rates = inner.task_rate(self.rates(params, adapted, hparams),
                            support.mask, hparams)
    x = self.inputs(params["embed"], rows, drop, rng, embedder)

    def support_loss(a):
      p = inner.merge(a, frozen)
      x_s = (self.inputs(p["embed"], rows, drop, rng, embedder)
             if embeds_adapt else x)
      return inner.masked_mse(self.model.decide(p, x_s), support.ratings,
                              support.mask)

    adapted, _ = inner.adapt(support_loss, adapted, rates, self.inner_steps,
                             first_order)
    return {"leaves": adapted, "rows": row_ids}

  def predict_task(self, params, tables, state: dict, query: Query,
                   drop=None, rng=None) -> jax.Array:
    """One task's query predictions [Q] from its adapted state."""
    rows = task_tables(tables, query.user, query.items)
    _, frozen = inner.partition(params, self.labels(params))
    p, embedder = inner.merge(state["leaves"], frozen), None
    if self.leaves == "all":
      embed, rows = local_rows.lookup(params["embed"], p["embed"],
                                      state["rows"], rows)
      p = {**p, "embed": embed}
      embedder = local_rows.local_embedder(self.model.embedder, embed)
    return self.model.decide(p, self.inputs(p["embed"], rows, drop, rng,
                                            embedder))

  def adapt(self, params, tables, support: Support, hparams):
    return jax.vmap(lambda s: self.adapt_task(params, tables, s, hparams,
                                              True))(support)

  def predict(self, params, tables, adapted, query: Query):
    return jax.vmap(lambda a, q: self.predict_task(params, tables, a, q))(
        adapted, query)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean query MSE over the real tasks of a batch."""
    t, s = batch.support_items.shape
    r_ids, r_in = jax.random.split(rng)
    drop = self.model.drop_ids(r_ids, (t, s + batch.query_items.shape[1]))
    in_rngs = jax.random.split(r_in, t)

    def task_loss(task: TaskBatch, d, r):
      d_s, d_q = (None, None) if d is None else (d[:s], d[s:])
      state = self.adapt_task(params, tables, task.support, hparams,
                              self.first_order, d_s, r)
      pred = self.predict_task(params, tables, state, task.query, d_q,
                               jax.random.fold_in(r, 1))
      return inner.masked_mse(pred, task.query_ratings, task.query_mask)

    if drop is None:
      losses = jax.vmap(lambda task, r: task_loss(task, None, r))(batch,
                                                                  in_rngs)
    else:
      losses = jax.vmap(task_loss)(batch, drop, in_rngs)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model, leaves: str = "all", first_order=None) -> MAML:
  """`maml`; `fomaml` passes first_order=True, `anil` leaves="head"."""
  return MAML(model, config.inner_steps,
              config.first_order if first_order is None else first_order,
              leaves, config.model.input_dropout)
