"""The outer loop shared by every method: state, optimizer, jitted steps.

A method is a small object with static config exposing pure functions:
  init(key, tables) -> params
  loss(params, tables, batch, rng, hparams) -> scalar (mean over real tasks)
  predict(params, tables, batch, hparams) -> [T, Q] adapted query predictions
`hparams` is a dict of traced float scalars (e.g. the inner learning rate),
so changing a rate never recompiles and a sweep can vmap over it.
"""

import chex
import flax
import jax
import jax.numpy as jnp
import optax

from metarec_jax.types import Params, PRNGKey, TaskBatch


@flax.struct.dataclass
class TrainState:
  params: Params
  opt_state: optax.OptState
  step: jax.Array
  rng: PRNGKey


def make_optimizer(lr: float, clip_norm: float,
                   weight_decay: float = 0.0) -> optax.GradientTransformation:
  parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
  if weight_decay > 0:
    return optax.chain(*parts, optax.adamw(lr, weight_decay=weight_decay))
  return optax.chain(*parts, optax.adam(lr))


def init_state(method, optimizer, tables: dict, key: PRNGKey) -> TrainState:
  k_init, k_train = jax.random.split(key)
  params = method.init(k_init, tables)
  return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32),
                    k_train)


def apply_gradients(optimizer, state: TrainState, grads) -> TrainState:
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  return state.replace(params=optax.apply_updates(state.params, updates),
                       opt_state=opt_state, step=state.step + 1)


def _meta_step_fn(method, optimizer):
  """The unjitted meta-step: (state, tables, batch, hparams) -> (state, m)."""

  def meta_step(state: TrainState, tables, batch: TaskBatch, hparams):
    rng = jax.random.fold_in(state.rng, state.step)
    loss, grads = jax.value_and_grad(method.loss)(state.params, tables, batch,
                                                  rng, hparams)
    return (apply_gradients(optimizer, state, grads),
            {"loss": loss, "grad_norm": optax.tree.norm(grads)})

  return meta_step


def make_meta_step(method, optimizer, max_traces: int = 0):
  """Returns meta_step(state, tables, batch, hparams) -> (state, metrics).

  The state is donated. max_traces > 0 makes a retrace beyond that count an
  error (tests guard against silent recompiles with it).
  """
  meta_step = _meta_step_fn(method, optimizer)
  if max_traces:
    meta_step = chex.assert_max_traces(meta_step, n=max_traces)
  return jax.jit(meta_step, donate_argnums=0)


def make_scanned_steps(method, optimizer):
  """Returns steps(state, tables, batches, hparams) -> (state, metrics [n]).

  Runs n meta-steps inside one jitted lax.scan over batches stacked on a
  leading axis ([n, T, S, ...], one support size): no host round trip
  between steps, one dispatch per n steps.
  """
  meta_step = _meta_step_fn(method, optimizer)

  def steps(state: TrainState, tables, batches: TaskBatch, hparams):
    return jax.lax.scan(lambda s, b: meta_step(s, tables, b, hparams), state,
                        batches)

  return jax.jit(steps, donate_argnums=0)


def make_predict(method, max_traces: int = 0):
  """Returns predict(params, tables, batch, hparams) -> [T, Q], jitted."""
  predict = method.predict
  if max_traces:
    predict = chex.assert_max_traces(predict, n=max_traces)
  return jax.jit(predict)
