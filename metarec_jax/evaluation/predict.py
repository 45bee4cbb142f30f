"""The one prediction path of evaluation and serving.

`adapted_predictions` (meta/base.py) adapts to each task's support and
scores its query; here it is jitted once per method object and run over a
TaskSet in bucketed, fixed-shape batches. Serving calls the same jitted
function on a batch whose query is every item.
"""

import functools

from absl import logging
import jax
import numpy as np

from metarec_jax.core import writers
from metarec_jax.data import batching
from metarec_jax.data.tasks import TaskSet
from metarec_jax.meta import base


@functools.lru_cache(maxsize=64)
def jitted(method: base.Method):
  """(params, tables, batch, hparams) -> [T, Q], compiled per shape."""
  return jax.jit(functools.partial(base.adapted_predictions, method))


@functools.lru_cache(maxsize=64)
def jitted_parts(method: base.Method):
  """(adapt, predict) jitted apart, for scoring many query chunks after one
  adaptation (catalogue ranking): adapt(params, tables, support, hparams)
  -> adapted; predict(params, tables, adapted, query) -> [T, Q]."""
  return jax.jit(method.adapt), jax.jit(method.predict)


def predict_batch(method, params, tables, batch, hparams) -> np.ndarray:
  return np.asarray(jax.device_get(jitted(method)(params, tables, batch,
                                                  hparams)))


def predict_tasks(method, params, tables, tasks: TaskSet, hparams,
                  batch_size: int, buckets, name: str = "") -> np.ndarray:
  """Adapted query predictions [N, Q] in task order (unclipped).

  With a name, logs progress with an ETA (a large scenario on a CPU takes a
  while).
  """
  out = np.zeros(tasks.query_items.shape, np.float32)
  progress, done = writers.Progress(len(tasks)), 0
  for idx, batch in batching.iterate_batches(tasks, batch_size, buckets):
    out[idx] = predict_batch(method, params, tables, batch, hparams)[:len(idx)]
    done += len(idx)
    if name:
      logging.info("evaluating %s: %s tasks", name, progress(done))
  return out


def clip(pred: np.ndarray, rating_range) -> np.ndarray:
  """Predictions are clipped to the rating range, methods and floors alike."""
  return np.clip(pred, rating_range[0], rating_range[1])
