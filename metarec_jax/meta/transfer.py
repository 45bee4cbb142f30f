"""Transfer-learning baselines: what meta-learning must add value over.

`GlobalModel`: the MeLU architecture trained by plain regression on every
meta-training rating (support and query of each training task alike; no
inner loop, no adaptation). `FineTune`: the same training, and at test time
the decision layers are fine-tuned on each task's support set with
`steps` SGD steps at hparams["inner_lr"] (no meta-training: the fine-tune
never enters the training loss). With steps = 0 it is the global model.
Both run through the one engine, so they get the same data order, item-id
dropout, optimizer, early stopping and seed vmap as every method.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import melu
from metarec_jax.models import embeddings


@dataclasses.dataclass(frozen=True)
class GlobalModel:
  rows_from_tables = True  # Users and items via the tables only.
  model: object

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.model.init(key, tables)

  def adapt(self, params, tables, support: Support, hparams):
    del params, tables, support, hparams  # Nothing adapts.
    return {}

  def predict(self, params, tables, adapted, query: Query):
    del adapted
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda u, items: self.model.decide(
        params, embeddings.task_inputs(emb, u, items)))(query.user,
                                                        query.items)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean squared error over all real ratings of the batch."""
    del hparams
    emb = self.model.embed_all(params, tables)
    items = jnp.concatenate([batch.support_items, batch.query_items], 1)
    ratings = jnp.concatenate([batch.support_ratings, batch.query_ratings], 1)
    mask = jnp.concatenate([batch.support_mask, batch.query_mask], 1)
    mask = mask * batch.task_mask[:, None]
    drop = self.model.drop_ids(rng, items.shape)

    def task_pred(user, its, d):
      return self.model.decide(params,
                               embeddings.task_inputs(emb, user, its, d))

    if drop is None:
      pred = jax.vmap(lambda u, i: task_pred(u, i, None))(batch.user, items)
    else:
      pred = jax.vmap(task_pred)(batch.user, items, drop)
    return jnp.sum(mask * (pred - ratings) ** 2) / jnp.maximum(
        jnp.sum(mask), 1.0), {}


@dataclasses.dataclass(frozen=True)
class FineTune(GlobalModel):
  steps: int = 5

  @property
  def tuner(self) -> melu.MeLU:
    """Plain first-order SGD on the decision layers, MeLU's adaptation."""
    return melu.MeLU(self.model, self.steps, True, gram=False)

  def adapt(self, params, tables, support: Support, hparams):
    return self.tuner.adapt(params, tables, support, hparams)

  def predict(self, params, tables, adapted, query: Query):
    return self.tuner.predict(params, tables, adapted, query)


def build_global(config, model) -> GlobalModel:
  del config
  return GlobalModel(model)


def build_finetune(config, model) -> FineTune:
  return FineTune(model, config.inner_steps)
