"""MAML, first-order MAML and ANIL on the MeLU architecture.

One task-level learner whose adapted leaves are chosen by `adapt`:
  "all"      every parameter, feature embeddings included (MAML, Finn et al.
             2017). The embeddings are then recomputed inside the inner loop
             from the adapted tables, and only the rows the task reads are
             adapted (local_rows.py: exact, and a task never copies the
             catalogue's tables).
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

from metarec_jax.meta import inner, local_rows
from metarec_jax.models import embeddings
from metarec_jax.types import Params, PRNGKey, TaskBatch

ADAPT = ("all", "decision", "head")


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
class TaskGradientMeta:
  """Gradient-based meta-learner; `adapt` picks the adapted leaves."""
  model: object
  inner_steps: int = 5
  first_order: bool = False
  adapt: str = "all"
  input_dropout: float = 0.0

  def __post_init__(self):
    if self.adapt not in ADAPT:
      raise ValueError(f"adapt={self.adapt!r}; choose from {ADAPT}")

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.model.init(key, tables)

  def labels(self, params: Params) -> Params:
    """True for the leaves the inner loop adapts."""
    def adapted(path):
      if self.adapt == "all":
        return path[0] in ("embed", "decision")
      if self.adapt == "decision":
        return path[0] == "decision"
      return path[:2] == ("decision", "out")
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({k: adapted(k) for k in flat})

  def rates(self, params: Params, adapted: dict, hparams):
    """Inner learning rate: a traced scalar (Meta-SGD returns a pytree)."""
    del params, adapted
    return hparams["inner_lr"]

  def inputs(self, params: Params, rows: dict, drop_ids, rng,
             embedder=None) -> jax.Array:
    """x [S + Q, d]: the task's support then query inputs, from its rows of
    the feature tables (task_tables)."""
    embedder = embedder or self.model.embedder
    emb = embedder.apply({"params": params["embed"]}, rows)
    n = rows["item_id"].shape[0]
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.arange(n), drop_ids)
    return input_dropout(rng, x, self.input_dropout)

  def adapt_and_predict(self, params, tables, task: TaskBatch, hparams,
                        first_order: bool, drop_ids=None, rng=None):
    """One task: adapted query predictions [Q]."""
    n_s = task.support_items.shape[0]
    rows = task_tables(tables, task.user, jnp.concatenate(
        [task.support_items, task.query_items]))
    embeds_adapt, embedder = self.adapt == "all", None
    if embeds_adapt:  # Adapt only the table rows this task reads.
      local, rows = local_rows.localize(params["embed"], rows)
      params = {**params, "embed": local}
      embedder = local_rows.local_embedder(self.model.embedder, local)
    adapted, frozen = inner.partition(params, self.labels(params))
    rates = inner.task_rate(self.rates(params, adapted, hparams),
                            task.support_mask, hparams)
    x = self.inputs(params, rows, drop_ids, rng, embedder)

    def support_loss(a):
      p = inner.merge(a, frozen)
      x_s = (self.inputs(p, rows, drop_ids, rng, embedder) if embeds_adapt
             else x)[:n_s]
      return inner.masked_mse(self.model.decide(p, x_s),
                              task.support_ratings, task.support_mask)

    adapted, _ = inner.adapt(support_loss, adapted, rates, self.inner_steps,
                             first_order)
    p = inner.merge(adapted, frozen)
    if embeds_adapt:
      x = self.inputs(p, rows, drop_ids, rng, embedder)
    return self.model.decide(p, x[n_s:])

  def loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean query MSE over the real tasks of a batch."""
    t, s = batch.support_items.shape
    r_ids, r_in = jax.random.split(rng)
    drop = self.model.drop_ids(r_ids, (t, s + batch.query_items.shape[1]))
    in_rngs = jax.random.split(r_in, t)

    def task_loss(task, d, r):
      pred = self.adapt_and_predict(params, tables, task, hparams,
                                    self.first_order, d, r)
      return inner.masked_mse(pred, task.query_ratings, task.query_mask)

    if drop is None:
      losses = jax.vmap(lambda task, r: task_loss(task, None, r))(batch,
                                                                  in_rngs)
    else:
      losses = jax.vmap(task_loss)(batch, drop, in_rngs)
    w = batch.task_mask
    return jnp.sum(losses * w) / jnp.maximum(jnp.sum(w), 1.0)

  def predict(self, params, tables, batch: TaskBatch, hparams):
    return jax.vmap(lambda t: self.adapt_and_predict(
        params, tables, t, hparams, True))(batch)
