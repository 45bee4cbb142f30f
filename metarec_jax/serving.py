"""Serve a trained run: adapt to a new user's ratings, rank unrated items.

`Recommender.load(workdir)` rebuilds the run's method and data from
results.json's config and restores the best-on-validation parameters from
the orbax checkpoints. Adaptation is the method's own jitted predict (the
inner loop of meta-training) at fixed shapes: users are padded to one of
USER_BUCKETS, support sets to one of the run's support buckets, and every
item is a query, so a server compiles at most len(USER_BUCKETS) x
len(buckets) programs however many requests arrive.

A user with no ratings has an all-zero support mask: the support loss and
its gradient are zero, so the prediction is the meta-learned prior. A new
user has no side features (an all-padding row of the user tables).

  rec = Recommender.load("workdirs/melu_ml100k")
  state = rec.adapt([(50, 5.0), (181, 4.0)])
  state = rec.update(state, [(1, 3.0)])   # re-adapts from the prior
  rec.top_k(state, 10)                     # [(item id, score), ...]
"""

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from metarec_jax import methods
from metarec_jax.data import pipeline
from metarec_jax.data.sources import DataError
from metarec_jax.meta import step as meta
from metarec_jax.types import TaskBatch

USER_BUCKETS = (1, 8, 64)


class ServingError(DataError):
  """A request the model cannot answer (unknown items, unfinished run)."""


@dataclasses.dataclass
class UserState:
  """A user as adapted so far: their ratings and the adapted scores.

  Attributes:
    items: int64 [n] original item ids the user rated (oldest first).
    ratings: float32 [n].
    scores: float32 [I] predicted rating of every item, in item-vocab order,
      from the meta-learned initialisation adapted on (items, ratings).
  """
  items: np.ndarray
  ratings: np.ndarray
  scores: np.ndarray


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "results.json")
  if not os.path.isfile(path):
    raise ServingError(f"{path}: not found; --workdir must be a finished run "
                       "(scripts/main.py writes results.json at the end).")
  with open(path, encoding="utf-8") as f:
    return ml_collections.ConfigDict(json.load(f)["config"])


def restore_best_params(workdir: str, abstract_params):
  """The best-on-validation params of the latest checkpoint."""
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  mngr = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      read_only=True))
  step = mngr.latest_step()
  if step is None:
    raise ServingError(f"{directory}: no checkpoint; train the run first.")
  restored = mngr.restore(step, args=ocp.args.Composite(
      best_params=ocp.args.StandardRestore(abstract_params)))
  mngr.close()
  return restored["best_params"]


class Recommender:
  """A trained method plus the vocabularies needed to speak original ids."""

  def __init__(self, config, prep, method, params):
    self.config, self.prep, self.params = config, prep, params
    self.hparams = methods.hparams(config)
    self.support_buckets = tuple(config.data.buckets)
    self.item_ids = prep.items.ids
    self.rating_range = prep.rating_range
    # One extra user row with no features: the new user.
    tables = dict(prep.tables)
    tables["user"] = {k: np.concatenate([v, np.zeros((1,) + v.shape[1:],
                                                     v.dtype)])
                      for k, v in prep.tables["user"].items()}
    self.tables = jax.tree.map(np.asarray, tables)
    self.new_user = len(prep.users)
    self._predict = meta.make_predict(method)

  @classmethod
  def load(cls, workdir: str) -> "Recommender":
    config = load_config(workdir)
    prep = pipeline.prepare(config.data, config.seed)
    method = methods.build(config, prep)
    abstract = jax.eval_shape(method.init, jax.random.key(0),
                              jax.tree.map(np.asarray, prep.tables))
    return cls(config, prep, method, restore_best_params(workdir, abstract))

  def item_index(self, ids, source: str = "input") -> np.ndarray:
    """Original ids -> dense indices; unknown ids are one error listing all."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    pos = np.minimum(np.searchsorted(self.item_ids, ids),
                     max(len(self.item_ids) - 1, 0))
    unknown = ids[self.item_ids[pos] != ids] if len(ids) else ids
    if len(unknown):
      shown = ", ".join(str(i) for i in np.unique(unknown)[:20])
      more = len(np.unique(unknown)) - 20
      raise ServingError(
          f"{source}: {len(np.unique(unknown))} item id(s) unknown to the "
          f"model: {shown}{f' and {more} more' if more > 0 else ''}; remove "
          "them (the model knows the items of its training data).")
    return pos.astype(np.int32)

  def _batch(self, supports: list) -> TaskBatch:
    """Pads users to a USER_BUCKETS size, supports to a run bucket."""
    largest = self.support_buckets[-1]
    n = max((min(len(s[0]), largest) for s in supports), default=0)
    size = next(b for b in self.support_buckets if n <= b)
    t = next((b for b in USER_BUCKETS if len(supports) <= b), None)
    if t is None:
      raise ValueError(f"at most {USER_BUCKETS[-1]} users per call")
    s_items = np.zeros((t, size), np.int32)
    s_ratings = np.zeros((t, size), np.float32)
    s_mask = np.zeros((t, size), np.float32)
    for row, (items, ratings) in enumerate(supports):
      # Beyond the largest bucket (the size meta-training saw), the newest
      # ratings are kept.
      items, ratings = items[-largest:], ratings[-largest:]
      s_items[row, :len(items)] = items
      s_ratings[row, :len(items)] = ratings
      s_mask[row, :len(items)] = 1.0
    every = np.broadcast_to(np.arange(len(self.item_ids), dtype=np.int32),
                            (t, len(self.item_ids)))
    return TaskBatch(
        user=np.full(t, self.new_user, np.int32), support_items=s_items,
        support_ratings=s_ratings, support_mask=s_mask,
        query_items=np.ascontiguousarray(every),
        query_ratings=np.zeros(every.shape, np.float32),
        query_mask=np.ones(every.shape, np.float32),
        task_mask=(np.arange(t) < len(supports)).astype(np.float32))

  def _scores(self, supports: list) -> np.ndarray:
    """[len(supports), I] adapted predictions, USER_BUCKETS[-1] at a time."""
    out, step = [], USER_BUCKETS[-1]
    for i in range(0, max(len(supports), 1), step):
      chunk = supports[i:i + step]
      pred = self._predict(self.params, self.tables, self._batch(chunk),
                           self.hparams)
      out.append(np.asarray(jax.device_get(pred))[:len(chunk)])
    return np.concatenate(out)[:len(supports)]

  def adapt_many(self, users: list, source: str = "input") -> list:
    """users: [[(item id, rating), ...], ...] -> [UserState]."""
    supports, raw = [], []
    for ratings in users:
      items = np.array([i for i, _ in ratings], np.int64)
      ys = np.array([r for _, r in ratings], np.float32)
      raw.append((items, ys))
      supports.append((self.item_index(items, source), ys))
    scores = self._scores(supports)
    return [UserState(i, y, s) for (i, y), s in zip(raw, scores)]

  def adapt(self, ratings, source: str = "input") -> UserState:
    return self.adapt_many([ratings], source)[0]

  def update(self, state: UserState, new_ratings) -> UserState:
    """Extends the support set (a re-rated item takes the new rating) and
    re-adapts from the meta-learned initialisation, not from `state`."""
    new = dict(new_ratings)
    kept = [(int(i), float(r)) for i, r in zip(state.items, state.ratings)
            if int(i) not in new]
    return self.adapt(kept + [(int(i), float(r)) for i, r in new.items()])

  def top_k(self, state: UserState, k: int) -> list:
    """[(item id, score)] best first, rated items excluded. Ranked by the raw
    prediction (ties: lower id first); the score shown is clipped to the
    rating range."""
    scores = state.scores.astype(np.float64).copy()
    if len(state.items):
      scores[self.item_index(state.items)] = -np.inf
    order = np.lexsort((self.item_ids, -scores))
    order = [i for i in order[:k] if np.isfinite(scores[i])]
    lo, hi = self.rating_range
    return [(int(self.item_ids[i]), float(np.clip(scores[i], lo, hi)))
            for i in order]

  def recommend(self, users: dict, k: int, source: str = "input") -> dict:
    """{user key: [(item id, rating)]} -> {user key: [(item id, score)]}."""
    keys = list(users)
    states = self.adapt_many([users[u] for u in keys], source)
    return {u: self.top_k(s, k) for u, s in zip(keys, states)}


def benchmark_supports(rec: Recommender, n: int) -> list:
  """n realistic support sets: new users' supports from the user_cold tasks
  (validation tasks if there are none), cycled."""
  tasks = rec.prep.tasks["user_cold"]
  if not len(tasks):
    tasks = rec.prep.tasks["validation"]
  idx = [i % len(tasks) for i in range(n)]
  return [(tasks.support_items[i], tasks.support_ratings[i]) for i in idx]


def benchmark(rec: Recommender, k: int = 10, repeats: int = 50) -> dict:
  """p50/p99 ms of adapt + rank for 1 and 64 users (after compiling)."""
  import time  # pylint: disable=g-import-not-at-top
  out = {"backend": jax.default_backend(), "repeats": repeats,
         "items": len(rec.item_ids), "k": k}
  for n in (1, USER_BUCKETS[-1]):
    supports = benchmark_supports(rec, n)
    users = [[(int(rec.item_ids[i]), float(r)) for i, r in zip(*s)]
             for s in supports]
    t0 = time.perf_counter()
    rec.recommend(dict(enumerate(users)), k)  # Compiles this shape.
    compile_ms = 1e3 * (time.perf_counter() - t0)
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      rec.recommend(dict(enumerate(users)), k)
      times.append(1e3 * (time.perf_counter() - t0))
    out[f"users_{n}"] = {"p50_ms": float(np.percentile(times, 50)),
                         "p99_ms": float(np.percentile(times, 99)),
                         "first_call_ms": compile_ms}
  return out
