"""Catalogue ranking: every candidate item scored for each test user.

A deployed recommender ranks the whole catalogue, not a 10-item query set.
Candidates of a user: the scenario's item pool (existing items for warm and
user_cold, new items for item_cold and user_item_cold) minus the items the
user already rated (their meta-training pool ratings and their support), as
full-sort evaluation masks a user's history; the query items always stay
candidates. Positives: the user's relevant query items (ranking.py has the
metrics). Scores come from predict.predict_batch, the one prediction path of
evaluation and serving, on batches whose support is the task's and whose
query is a chunk of candidates: each batch of users_per_batch users adapts
once, then scores item_chunk candidates per call, so memory stays bounded on
a large catalogue, and every chunk is padded to one width, so a scenario
compiles once. Candidates are ranked by the raw prediction, as serving ranks
them: clipping to the rating range would tie every item predicted above the
top rating.
"""

import dataclasses
import time

from absl import logging
import numpy as np

from metarec_jax.core import writers
from metarec_jax.core.types import Query
from metarec_jax.data import batching
from metarec_jax.data.tasks import TaskSet
from metarec_jax.evaluation import floors, predict, ranking

NEW_ITEM_SCENARIOS = ("item_cold", "user_item_cold")
USERS_PER_BATCH = 32
ITEM_CHUNK = 2048
FLOOR_USERS = 64  # Users per block of floor scores [users, C] on the host.
LOG_EVERY_S = 10.0


def pool(prep, scenario: str) -> np.ndarray:
  """The scenario's candidate items, sorted dense indices [C]."""
  ids = (prep.split.new_items if scenario in NEW_ITEM_SCENARIOS
         else prep.split.existing_items)
  return np.sort(prep.items.index(ids)).astype(np.int32)


def history(prep) -> dict:
  """{dense user index: item indices [n]} of every user's meta-training
  pool ratings (validation users included: their pool ratings are history
  too, and they are test users of warm and item_cold)."""
  pool = prep.split.pool
  if not len(pool):
    return {}
  users = prep.users.index(pool.user)
  items = prep.items.index(pool.item)
  order = np.argsort(users, kind="stable")
  users, items = users[order], items[order]
  starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
  return dict(zip(users[starts].tolist(), np.split(items, starts[1:])))


def user_masks(tasks: TaskSet, index, items: np.ndarray, num_items: int,
               threshold: float, known: dict | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
  """(excluded, positive), bool [len(index), C]: a task's known items (its
  user's pool ratings, from history(), and its support) leave its
  candidates, except its query items; its query items rated >= threshold
  are positives."""
  known = {} if known is None else known
  position = np.full(num_items, -1, np.int64)
  position[items] = np.arange(len(items))
  excluded = np.zeros((len(index), len(items)), bool)
  positive = np.zeros((len(index), len(items)), bool)
  none = np.zeros(0, np.int64)
  for row, i in enumerate(index):
    s = position[np.concatenate([tasks.support_items[i], known.get(
        int(tasks.users[i]), none)]).astype(np.int64)]
    excluded[row, s[s >= 0]] = True
    q = position[tasks.query_items[i]]
    if (q < 0).any():
      raise ValueError("a query item outside the scenario's item pool")
    excluded[row, q] = False
    positive[row, q[tasks.query_ratings[i] >= threshold]] = True
  return excluded, positive


def chunk_width(n_items: int, item_chunk: int) -> int:
  """One query width per pool: the pool rounded up to 128, at most
  item_chunk."""
  return min(item_chunk, -(-max(n_items, 1) // 128) * 128)


def method_scores(method, params, tables, hparams, batch, n_tasks: int,
                  items: np.ndarray, item_chunk: int) -> np.ndarray:
  """[n_tasks, C] raw predictions of every pool item after adapting to the
  batch's supports: one adaptation, then one predict call per item chunk
  (adapting per chunk made Book-Crossing's 56K-item pool ~30x slower)."""
  t = batch.user.shape[0]
  width = chunk_width(len(items), item_chunk)
  adapt, score = predict.jitted_parts(method)
  adapted = adapt(params, tables, batch.support, hparams)
  out = np.empty((n_tasks, len(items)), np.float32)
  for start in range(0, len(items), width):
    chunk = items[start:start + width]
    query = np.zeros(width, np.int32)
    query[:len(chunk)] = chunk
    query = np.ascontiguousarray(np.broadcast_to(query, (t, width)))
    pred = np.asarray(score(params, tables, adapted, Query(batch.user, query)))
    out[:, start:start + len(chunk)] = pred[:n_tasks, :len(chunk)]
  return out


def method_metrics(method, params, prep, tasks: TaskSet, scenario: str,
                   hparams, buckets, threshold: float,
                   users_per_batch: int = USERS_PER_BATCH,
                   item_chunk: int = ITEM_CHUNK) -> dict:
  """{catalogue metric: mean over users} of one method in one scenario."""
  items, known = pool(prep, scenario), history(prep)
  values, done = [], 0
  progress, logged = writers.Progress(len(tasks)), time.time()
  for size, idx in batching.plan_batches(tasks, users_per_batch, buckets):
    batch = batching.pad_tasks(tasks, idx, size, users_per_batch)
    scores = method_scores(method, params, prep.tables, hparams, batch,
                           len(idx), items, item_chunk)
    excluded, positive = user_masks(tasks, idx, items, len(prep.items),
                                    threshold, known)
    values.append(ranking.per_user(np.where(excluded, -np.inf, scores),
                                   positive))
    done += len(idx)
    if done == len(tasks) or time.time() - logged > LOG_EVERY_S:
      logged = time.time()
      logging.info("catalogue %s (%d items): %s users", scenario,
                   len(items), progress(done))
  return ranking.summarise(values)


def floor_metrics(prep, tasks: TaskSet, scenario: str, threshold: float,
                  seed: int) -> dict:
  """{floor: {catalogue metric}}: each floor's predictions of the pool
  items rank the same candidates as the methods' (random: the exact
  expectation over them)."""
  items, known = pool(prep, scenario), history(prep)
  values = {f: [] for f in floors.FLOORS}
  for start in range(0, len(tasks), FLOOR_USERS):
    idx = np.arange(start, min(start + FLOOR_USERS, len(tasks)))
    excluded, positive = user_masks(tasks, idx, items, len(prep.items),
                                    threshold, known)
    # The users' tasks with every pool item as the query.
    sub = dataclasses.replace(
        tasks.subset(idx),
        query_items=np.broadcast_to(items, (len(idx), len(items))),
        query_ratings=np.zeros((len(idx), len(items)), np.float32))
    for f in floors.FLOORS:
      if f == "random":
        values[f].append(ranking.expected_random(
            (~excluded).sum(-1), positive.sum(-1)))
        continue
      scores = floors.predict(f, prep.floor_stats, sub, seed)
      values[f].append(ranking.per_user(np.where(excluded, -np.inf, scores),
                                        positive))
  return {f: ranking.summarise(v) for f, v in values.items()}
