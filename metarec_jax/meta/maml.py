"""MeLU-style meta-learning: adapt the labelled leaves on the support set,
score on the query set, vmap over tasks, one jitted outer step.

With the model's labels (decision layers only) this is MeLU; with all leaves
labelled it is MAML. The embedding is computed once per task, outside the
inner loop, whenever no embedding leaf adapts.
"""

import functools

import chex
import flax
import jax
import jax.numpy as jnp
import optax

from metarec_jax.meta import inner
from metarec_jax.models import embeddings
from metarec_jax.types import Params, PRNGKey, TaskBatch


@flax.struct.dataclass
class TrainState:
  params: Params
  opt_state: optax.OptState
  step: jax.Array
  rng: PRNGKey


def make_optimizer(lr: float, clip_norm: float) -> optax.GradientTransformation:
  parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
  return optax.chain(*parts, optax.adam(lr))


def init_state(model, optimizer, tables: dict, key: PRNGKey) -> TrainState:
  k_init, k_train = jax.random.split(key)
  params = model.init(k_init, tables)
  return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32),
                    k_train)


def adapt_and_predict(model, params: Params, emb, task: TaskBatch, inner_lr,
                      steps: int, first_order: bool, drop_s=None, drop_q=None):
  """One task (unbatched fields): adapted query predictions [Q], losses.

  emb: model.embed_all(params, tables), computed once for the whole batch.
  drop_s, drop_q: optional item-id dropout masks [S], [Q] (training).
  """
  x_s = embeddings.task_inputs(emb, task.user, task.support_items, drop_s)
  x_q = embeddings.task_inputs(emb, task.user, task.query_items, drop_q)
  adapted, frozen = inner.partition(params, model.adapt_labels(params))

  def support_loss(a):
    pred = model.decide(inner.merge(a, frozen), x_s)
    return inner.masked_mse(pred, task.support_ratings, task.support_mask)

  adapted, losses = inner.adapt(support_loss, adapted, inner_lr, steps,
                                first_order)
  return model.decide(inner.merge(adapted, frozen), x_q), losses


def batch_loss(model, params, tables, batch: TaskBatch, rng, inner_lr,
               steps: int, first_order: bool):
  """Mean query MSE over the real tasks of a batch."""
  emb = model.embed_all(params, tables)
  r_s, r_q = jax.random.split(rng)
  drop_s = model.drop_ids(r_s, batch.support_items.shape)
  drop_q = model.drop_ids(r_q, batch.query_items.shape)

  def task_loss(task, d_s, d_q):
    pred, _ = adapt_and_predict(model, params, emb, task, inner_lr, steps,
                                first_order, d_s, d_q)
    return inner.masked_mse(pred, task.query_ratings, task.query_mask)

  losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
  weights = batch.task_mask
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def make_meta_step(model, optimizer, steps: int, first_order: bool,
                   max_traces: int = 0):
  """Returns meta_step(state, tables, batch, inner_lr) -> (state, metrics).

  max_traces > 0 makes a retrace beyond that count an error (for tests).
  """

  def meta_step(state: TrainState, tables, batch: TaskBatch, inner_lr):
    rng = jax.random.fold_in(state.rng, state.step)
    loss, grads = jax.value_and_grad(
        lambda p: batch_loss(model, p, tables, batch, rng, inner_lr, steps,
                             first_order))(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state,
                                          state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(params=params, opt_state=opt_state,
                              step=state.step + 1)
    return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  if max_traces:
    meta_step = chex.assert_max_traces(meta_step, n=max_traces)
  return jax.jit(meta_step, donate_argnums=0)


def make_predict(model, steps: int, max_traces: int = 0):
  """Returns predict(params, tables, batch, inner_lr) -> [T, Q], jitted."""

  def predict(params, tables, batch: TaskBatch, inner_lr):
    emb = model.embed_all(params, tables)
    return jax.vmap(lambda t: adapt_and_predict(
        model, params, emb, t, inner_lr, steps, True)[0])(batch)

  if max_traces:
    predict = chex.assert_max_traces(predict, n=max_traces)
  return jax.jit(predict)
