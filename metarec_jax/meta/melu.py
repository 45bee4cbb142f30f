"""MeLU (Lee et al., KDD 2019): the decision layers adapt, the embeddings
are shared.

Each task takes a few SGD steps on its support ratings, starting from the
meta-learned decision MLP; the feature embeddings are learned by the outer
loop only, so they are computed once per batch for all users and items,
outside the inner loop. `first_order` drops the second-order terms of the
meta-gradient. The inner loop runs in Gram-matrix form by default
(gram_inner.py: the same numbers, less work).
"""

import dataclasses

import jax

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, gram_inner, inner
from metarec_jax.models import embeddings


@dataclasses.dataclass(frozen=True)
class MeLU:
  """MeLU around a feature model (models/melu.py).

  Attributes:
    model: MeLUModel (or a text variant): embeddings + decision MLP.
    inner_steps: SGD steps on each task's support.
    first_order: stop the gradient through the inner updates.
    gram: the Gram-matrix inner loop (valid because exactly the decision MLP
      adapts at a scalar rate); False runs the generic inner.adapt.
  config.compute_dtype runs it in bfloat16 like every method
  (meta/mixed_precision.py).
  """
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  inner_steps: int = 5
  first_order: bool = False
  gram: bool = True

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.model.init(key, tables)

  def adapt_task(self, params, emb, support: Support, hparams, first_order,
                 drop=None):
    """One task (unbatched fields) -> its adapted state."""
    x_s = embeddings.task_inputs(emb, support.user, support.items, drop)
    lr = inner.task_rate(hparams["inner_lr"], support.mask, hparams)
    decision = params["decision"]
    if self.gram:
      state, _ = gram_inner.adapt(decision, x_s, support.ratings, support.mask,
                                  lr, self.inner_steps, first_order,
                                  len(self.model.hidden))
      return state
    adapted, frozen = inner.partition({**params, "decision": decision},
                                      self.model.adapt_labels(params))

    def support_loss(a):
      pred = self.model.decide(inner.merge(a, frozen), x_s)
      return inner.masked_mse(pred, support.ratings, support.mask)

    adapted, _ = inner.adapt(support_loss, adapted, lr, self.inner_steps,
                             first_order)
    return adapted

  def predict_task(self, params, emb, state, query: Query, drop=None):
    """One task's query predictions [Q] from its adapted state."""
    x_q = embeddings.task_inputs(emb, query.user, query.items, drop)
    decision = params["decision"]
    if self.gram:
      pred = gram_inner.predict(decision, state, x_q, len(self.model.hidden))
    else:
      _, frozen = inner.partition(params, self.model.adapt_labels(params))
      pred = self.model.decide(inner.merge(state, frozen), x_q)
    return pred

  def adapt(self, params, tables, support: Support, hparams):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda s: self.adapt_task(params, emb, s, hparams,
                                              True))(support)

  def predict(self, params, tables, adapted, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda a, q: self.predict_task(params, emb, a, q))(
        adapted, query)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean query MSE over the real tasks, item ids dropped at random."""
    model = self.model
    emb = model.embed_all(params, tables)
    r_s, r_q = jax.random.split(rng)
    drop_s = model.drop_ids(r_s, batch.support_items.shape)
    drop_q = model.drop_ids(r_q, batch.query_items.shape)

    def task_loss(task: TaskBatch, d_s, d_q):
      state = self.adapt_task(params, emb, task.support, hparams,
                              self.first_order, d_s)
      pred = self.predict_task(params, emb, state, task.query, d_q)
      return inner.masked_mse(pred, task.query_ratings, task.query_mask)

    losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model, first_order=None) -> MeLU:
  """`melu`; `melu_fo` passes first_order=True."""
  return MeLU(model, config.inner_steps,
              config.first_order if first_order is None else first_order,
              gram=config.gram_inner)
