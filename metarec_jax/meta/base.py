"""The method contract: what every meta-learning method is.

In the spirit of optax's GradientTransformation, a method is a small frozen
object holding static config (step counts, model shape) and exposing pure
functions over explicit inputs. Everything a sweep may vary without a
recompile is a traced hyperparameter in `hparams` (HPARAMS); everything
else is static.

  init(key, tables) -> params
      The meta-learned parameters (a pytree), for the feature tables.
  adapt(params, tables, support, hparams) -> adapted
      The inner loop for a batch of T tasks: gradient steps on a task's
      support ratings (MeLU, MAML, ...), a closed form, or an encoder pass
      (TaNP). `adapted` holds only per-task state, leading axis T.
  predict(params, tables, adapted, query) -> [T, Q] ratings
      Scores the query items. It gets no query ratings: a method cannot
      peek at what it is scored on.
  meta_loss(params, tables, batch, rng, hparams) -> (loss, aux)
      The outer objective on a batch with query ratings (mean over the real
      tasks); `aux` is a dict of extra scalars to log. `rng` drives training
      noise only (item-id dropout, latent samples).

A closed-form method (`closed_form = True`; mf_foldin) is fitted instead of
stepped: train/engine.py calls, once per run,

  fit(seed, tables, ratings, hparams, validate) -> (params, record)
      ratings: {"user", "item": dense indices [N], "rating": [N]}, the
      meta-training ratings (prep.split.train_pool); validate(params) -> the
      validation MAE (evaluation/selection.py) its hyperparameters are
      chosen on; record: what it tried and chose, kept in results.json.

Evaluation and serving both call `adapted_predictions`, so a served user
gets exactly what the tables measure. Tables are a dict of arrays: {"user":
{field: [U, w]}, "item": {field: [I, w]}, "item_id": [I], "item_mean": [I],
"item_count": [I], "global_mean": [], and optionally "item_text": [I, h]}.
"""

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch

Tables = dict
Hparams = dict
Adapted = Any

# Traced float hyperparameters: changing one never recompiles, and a sweep
# vmaps over them. inner_lr: the inner loop's rate; bias_prior: the residual
# offset's user-bias shrinkage (meta/residual.py); support_prior: smaller
# inner steps on small supports (meta/inner.task_rate); item_prior: the
# residual offset's item-mean shrinkage (meta/residual.py); four are the
# meta-step's overfitting controls (train/controls.py), which no method
# reads; l1_weight: the closed-form heads' outer loss, MSE mixed with MAE
# (meta/inner.query_loss).
HPARAMS = ("inner_lr", "bias_prior", "support_prior", "item_prior",
           "adversarial_eps", "adversarial_weight", "feature_dropout",
           "text_dropout", "l1_weight")


class Method(Protocol):
  """The four pure functions every registered method provides."""

  def init(self, key: PRNGKey, tables: Tables) -> Params:
    ...

  def adapt(self, params: Params, tables: Tables, support: Support,
            hparams: Hparams) -> Adapted:
    ...

  def predict(self, params: Params, tables: Tables, adapted: Adapted,
              query: Query) -> jax.Array:
    ...

  def meta_loss(self, params: Params, tables: Tables, batch: TaskBatch,
                rng: PRNGKey, hparams: Hparams) -> tuple[jax.Array, dict]:
    ...


def rows_from_tables(method) -> bool:
  """Whether `method` reads users and items only through the tables, never
  indexing its own params by a dense user or item index. Such a method may
  be handed only a batch's table rows, re-indexed (train/batch_rows.py);
  one that declares nothing (e.g. a per-item bias parameter) always gets
  the full tables. Methods opt in with `rows_from_tables = True`."""
  return bool(getattr(method, "rows_from_tables", False))


def closed_form(method) -> bool:
  """Whether `method` is fitted by its `fit` (see the module docstring)
  instead of by meta-steps. Methods opt in with `closed_form = True`."""
  return bool(getattr(method, "closed_form", False))


def pretrainer(method):
  """The closed-form method whose fit a run of `method` starts from when
  it is not started from another run (None for most methods): mf_meta
  starts from an mf_foldin fit. Methods opt in with a `pretrainer`."""
  return getattr(method, "pretrainer", None)


def hparams(config) -> Hparams:
  """The traced hyperparameters of a config, as float32 scalars."""
  return {name: np.float32(config.get(name, 0.0)) for name in HPARAMS}


def adapted_predictions(method: Method, params: Params, tables: Tables,
                        batch: TaskBatch, hparams: Hparams) -> jax.Array:
  """[T, Q] predictions after adapting to each task's support: the one
  prediction path of evaluation and serving."""
  adapted = method.adapt(params, tables, batch.support, hparams)
  return method.predict(params, tables, adapted, batch.query)


def task_mean(losses: jax.Array, task_mask: jax.Array) -> jax.Array:
  """Mean of per-task losses [T] over the real (unpadded) tasks."""
  return jnp.sum(losses * task_mask) / jnp.maximum(jnp.sum(task_mask), 1.0)
