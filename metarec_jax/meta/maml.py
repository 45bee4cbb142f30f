"""Gradient-based meta-learning: adapt the labelled leaves on the support
set with a few SGD steps, score on the query set, vmap over tasks.

With the model's labels (decision layers only) this is MeLU (Lee et al.,
KDD 2019). `first_order` drops the second-order terms (FOMAML). Feature
embeddings are computed once per batch for all users and items, outside the
inner loop, because MeLU never adapts them.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.meta import gram_inner, inner
from metarec_jax.models import embeddings
from metarec_jax.types import Params, PRNGKey, TaskBatch


def adapt_and_predict(model, params: Params, emb, task: TaskBatch, inner_lr,
                      steps: int, first_order: bool, drop_s=None, drop_q=None,
                      gram: bool = False, compute_dtype: str = "float32"):
  """One task (unbatched fields): adapted query predictions [Q], losses.

  emb: model.embed_all(params, tables), computed once for the whole batch.
  drop_s, drop_q: optional item-id dropout masks [S], [Q] (training).
  gram: use the Gram-matrix form of the same computation (gram_inner.py);
    valid when exactly the decision MLP adapts at a scalar rate.
  compute_dtype: "bfloat16" runs the decision layers and the inner loop in
    bfloat16 (for accelerators); parameters and the outer loop stay float32.
  """
  x_s = embeddings.task_inputs(emb, task.user, task.support_items, drop_s)
  x_q = embeddings.task_inputs(emb, task.user, task.query_items, drop_q)
  if compute_dtype != "float32":
    cast = lambda t: jax.tree.map(lambda a: a.astype(compute_dtype), t)
    x_s, x_q, inner_lr = cast((x_s, x_q, inner_lr))
    params = {**params, "decision": cast(params["decision"])}
  if gram:
    pred, losses = gram_inner.adapt_and_predict(
        params["decision"], x_s, task.support_ratings, task.support_mask, x_q,
        inner_lr, steps, first_order, len(model.hidden))
    return pred.astype(jnp.float32), losses
  adapted, frozen = inner.partition(params, model.adapt_labels(params))

  def support_loss(a):
    pred = model.decide(inner.merge(a, frozen), x_s)
    return inner.masked_mse(pred, task.support_ratings, task.support_mask)

  adapted, losses = inner.adapt(support_loss, adapted, inner_lr, steps,
                                first_order)
  pred = model.decide(inner.merge(adapted, frozen), x_q)
  return pred.astype(jnp.float32), losses


@dataclasses.dataclass(frozen=True)
class GradientMeta:
  """MeLU / FOMAML-style meta-learner around a model (see models/melu.py)."""
  model: object
  inner_steps: int = 5
  first_order: bool = False
  gram: bool = True  # The Gram-matrix inner loop (same numbers, faster).
  compute_dtype: str = "float32"  # "bfloat16": see adapt_and_predict.

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.model.init(key, tables)

  def loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Mean query MSE over the real tasks of a batch."""
    model = self.model
    emb = model.embed_all(params, tables)
    r_s, r_q = jax.random.split(rng)
    drop_s = model.drop_ids(r_s, batch.support_items.shape)
    drop_q = model.drop_ids(r_q, batch.query_items.shape)

    def task_loss(task, d_s, d_q):
      pred, _ = adapt_and_predict(model, params, emb, task,
                                  inner.task_rate(hparams["inner_lr"],
                                                  task.support_mask, hparams),
                                  self.inner_steps,
                                  self.first_order, d_s, d_q, self.gram,
                                  self.compute_dtype)
      return inner.masked_mse(pred, task.query_ratings, task.query_mask)

    losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
    weights = batch.task_mask
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

  def predict(self, params, tables, batch: TaskBatch, hparams):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda t: adapt_and_predict(
        self.model, params, emb, t,
        inner.task_rate(hparams["inner_lr"], t.support_mask, hparams),
        self.inner_steps, True, gram=self.gram,
        compute_dtype=self.compute_dtype)[0])(batch)
