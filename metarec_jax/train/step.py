"""The meta-step, written once: R runs of one method, vmapped and jitted.

A run's train state holds its own outer learning rate and weight decay
(optax.inject_hyperparams), and its traced method hparams arrive beside the
batch, so seeds, sweep points and ensemble members of one method share one
compiled step: every argument has a leading run axis [R].
"""

import functools

import chex
import flax
import jax
import jax.numpy as jnp
import optax

from metarec_jax.core.types import Params, PRNGKey
from metarec_jax.meta import base
from metarec_jax.train import adversarial
from metarec_jax.train import batch_rows as batch_rows_lib
from metarec_jax.train import controls as controls_lib


@flax.struct.dataclass
class TrainState:
  params: Params
  opt_state: optax.OptState
  step: jax.Array
  rng: PRNGKey


def make_optimizer(clip_norm: float, outer_lr: float = 1e-3,
                   weight_decay: float = 0.0) -> optax.GradientTransformation:
  """Global-norm clipping, then AdamW whose rate and decay are state."""
  parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
  return optax.chain(*parts, optax.inject_hyperparams(optax.adamw)(
      learning_rate=outer_lr, weight_decay=weight_decay))


def init_state(method: base.Method, tables: dict, seed: int, outer_lr: float,
               weight_decay: float, clip_norm: float,
               params: Params = None, start=None) -> TrainState:
  """One run's state: params from its seed (or the given params, to
  continue from a trained run), optimizer with its rates. start, if given,
  maps the fresh params to the ones to start from (train/init_from.py)."""
  k_init, k_train = _run_keys(seed)
  if params is None:
    # One program, not one small compile per initializer and leaf shape
    # (eagerly, flax's initializers compiled ~10 programs: 5 s on a CPU).
    params = jax.jit(method.init)(k_init, tables)
    if start is not None:
      params = jax.tree.map(jnp.asarray, start(params))
  opt_state, count = _optimizer_init(params, outer_lr, weight_decay,
                                     clip_norm=clip_norm)
  return TrainState(params, opt_state, count, k_train)


# The run's keys and the optimizer's zeros are one program each: eagerly
# they were ~20 one-op programs, one per leaf shape (~0.8 s of a quick
# start's compiling on a CPU). Integer key bits and zeros: the same values.
@jax.jit
def _run_keys(seed):
  return tuple(jax.random.split(jax.random.fold_in(jax.random.key(seed), 1)))


@functools.partial(jax.jit, static_argnames="clip_norm")
def _optimizer_init(params, outer_lr, weight_decay, clip_norm):
  optimizer = make_optimizer(clip_norm, outer_lr, weight_decay)
  return optimizer.init(params), jnp.zeros((), jnp.int32)


def apply_gradients(optimizer, state: TrainState, grads) -> TrainState:
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  return state.replace(params=optax.apply_updates(state.params, updates),
                       opt_state=opt_state, step=state.step + 1)


def _one_run_step(method, optimizer, batch_rows: bool = False,
                  controls: controls_lib.Controls = controls_lib.OFF):
  """(state, tables, batch, hparams) -> (state, metrics) for one run.
  batch_rows: the loss reads only the batch's table rows (batch_rows.py),
  for a method that declares it safe (base.rows_from_tables). controls:
  the overfitting controls it holds (train/controls.py)."""
  batch_rows = batch_rows and base.rows_from_tables(method)
  loss_and_grad = (
      adversarial.value_and_grad(method.meta_loss, type(method).__name__)
      if controls.adversarial else
      jax.value_and_grad(method.meta_loss, has_aux=True))

  def step(state: TrainState, tables, batch, hparams):
    rng = jax.random.fold_in(state.rng, state.step)
    # On the full tables, before restrict: a seed drops the same values
    # whether or not the step reads only the batch's rows.
    tables, batch = controls.apply(tables, batch, rng, hparams)
    if batch_rows:
      tables, batch = batch_rows_lib.restrict(tables, batch)
    (loss, aux), grads = loss_and_grad(state.params, tables, batch, rng,
                                       hparams)
    return (apply_gradients(optimizer, state, grads),
            {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux})

  return step


def make_step(method: base.Method, clip_norm: float, max_traces: int = 0,
              batch_rows: bool = False,
              controls: controls_lib.Controls = controls_lib.OFF):
  """Returns step(states, tables, batch, hparams) -> (states, metrics), all
  with a leading run axis; jitted, the states donated. max_traces > 0 makes
  a retrace beyond that count an error (tests guard recompiles with it)."""
  one = _one_run_step(method, make_optimizer(clip_norm), batch_rows,
                      controls)
  if max_traces:
    one = chex.assert_max_traces(one, n=max_traces)
  return jax.jit(_over_runs(one), donate_argnums=0)


def _over_runs(one):
  """vmap over the run axis. With one run (scripts/main.py) the axis is
  dropped instead: a vmap of one batches every gather and matmul, which
  made the step slower (results/step_one_run_vs_vmap.json)."""
  many = jax.vmap(one)

  def step(*args):
    if jax.tree.leaves(args[0])[0].shape[0] != 1:
      return many(*args)
    out = one(*jax.tree.map(lambda x: x[0], args))
    return jax.tree.map(lambda x: x[None], out)

  return step


def make_scanned_steps(method: base.Method, clip_norm: float,
                       batch_rows: bool = False,
                       controls: controls_lib.Controls = controls_lib.OFF):
  """Returns steps(states, tables, batches, hparams) -> (states, metrics
  [n, R]): n meta-steps in one jitted lax.scan over batches stacked on a
  leading axis [n, R, T, ...]; no host round trip between them."""
  step = _over_runs(_one_run_step(method, make_optimizer(clip_norm),
                                  batch_rows, controls))

  def steps(states, tables, batches, hparams):
    return jax.lax.scan(lambda s, b: step(s, tables, b, hparams), states,
                        batches)

  return jax.jit(steps, donate_argnums=0)
