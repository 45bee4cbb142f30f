"""Model versions of a served run, and scoring with one of them.

Version 0 is the run's own selected parameters (<run>/params). A refresh
(serving/refresh.py) writes version n as <run>/versions/<n>/: its params/,
checkpoints and tensorboard, and version.json last; a version without
version.json is not finished and is never loaded. As in TensorFlow
Serving's version policy, the service loads a new version beside the one it
serves, then switches new requests to it; requests already running finish
on the version they started with (they hold its `Model`).
"""

import dataclasses
import os

import jax
import numpy as np

from metarec_jax.core import io
from metarec_jax.core.types import TaskBatch
from metarec_jax.evaluation import predict
from metarec_jax.train import checkpoints

VERSIONS = "versions"
VERSION_FILE = "version.json"
# Users per model call in the service. Scoring the whole catalogue for many
# users at once outgrows a CPU's caches (docs/service.md measures it), so
# a burst of requests is several calls of at most the last size.
SERVICE_BUCKETS = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class Model:
  """One version's parameters beside the run's method (shared)."""
  version: int
  params: object


def version_dir(run_dir: str, version: int) -> str:
  return os.path.join(run_dir, VERSIONS, str(version))


def finished_versions(run_dir: str) -> list:
  """Versions > 0 whose version.json is written, ascending."""
  folder = os.path.join(run_dir, VERSIONS)
  if not os.path.isdir(folder):
    return []
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit() and
                os.path.isfile(os.path.join(folder, n, VERSION_FILE)))


def latest(run_dir: str) -> int:
  return max(finished_versions(run_dir), default=0)


def load(rec, run_dir: str, version: int) -> Model:
  """A version's parameters, shaped like the run's (rec.params)."""
  if version == 0:
    return Model(0, jax.device_put(rec.params))
  params = checkpoints.restore_params(version_dir(run_dir, version),
                                      rec.params)
  return Model(version, jax.device_put(params))


def write_record(run_dir: str, version: int, record: dict) -> None:
  """Marks a version finished (the last file a refresh writes)."""
  io.write_json(os.path.join(version_dir(run_dir, version), VERSION_FILE),
                {"version": version, **record})


def batch(rec, supports: list, user_rows: list, n_items: int,
          buckets=SERVICE_BUCKETS) -> TaskBatch:
  """Recommender.serving_batch with the users' table rows given and every
  one of n_items rows as the query, users padded to one of buckets."""
  b = rec.serving_batch(supports, user_buckets=buckets)
  user = np.array(b.user)
  user[:len(user_rows)] = user_rows
  every = np.broadcast_to(np.arange(n_items, dtype=np.int32),
                          (len(user), n_items))
  return b.replace(user=user, query_items=np.ascontiguousarray(every),
                   query_ratings=np.zeros(every.shape, np.float32),
                   query_mask=np.ones(every.shape, np.float32))


def scores(rec, model: Model, tables: dict, supports: list, user_rows: list,
           n_items: int, buckets=SERVICE_BUCKETS) -> np.ndarray:
  """[len(supports), n_items] adapted predictions: evaluation/predict.py's
  jitted adapt-then-predict, buckets[-1] users at a time."""
  step = buckets[-1]
  out = []
  for i in range(0, max(len(supports), 1), step):
    b = batch(rec, supports[i:i + step], user_rows[i:i + step], n_items,
              buckets)
    out.append(predict.predict_batch(rec.method, model.params, tables, b,
                                     rec.hparams)[:len(supports[i:i + step])])
  return np.concatenate(out)[:len(supports)]
