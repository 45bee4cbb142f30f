"""Items as tasks: the item warm-up world, built by swapping the roles.

A new item gets its first K ratings from existing users; the task is to
predict how other existing users rate it (docs/protocol.md, "Item
warm-up"). Here that is a user task of the transposed dataset: transpose()
swaps users and items (ids, features, codecs, ratings), and make_split()
casts the user world's split in those roles. So every method, the engine,
the batches and the floors run item tasks unchanged: in a TaskBatch of this
world `user` is the task's item and `support_items` / `query_items` are the
users who rated it; what adapts per task is whatever the method adapts per
task, on the item's side.

The user world's split decides who is existing and new (same seed, same
split), so:
  test (item_warmup): new items x existing users, the item_cold ratings;
  validation: a seeded share of the existing items (all their pool ratings);
  meta-training: the other existing items' pool ratings.
No meta-training task reads a validation item's rating, and the floors'
statistics (user means, global mean) and the model's residual base come
from meta-training ratings only (tests/test_item_world.py checks it).
"""

import dataclasses

import numpy as np

from metarec_jax.data import scenarios
from metarec_jax.data.sources import Ratings, RawData
from metarec_jax.data.tasks import TaskSet

ITEM_WARMUP = "item_warmup"
SCENARIOS = (ITEM_WARMUP,)
WARMUP_KS = (1, 3, 5, 10, 20)
DEFAULT_K = 5  # item_warmup's K when data.k_shot is 0: the table's K.
# Meta-training item tasks hold at most this many ratings (10 query, up to
# 20 support: the test's largest K); a popular item is cut into several.
TRAIN_TASK_RATINGS = 30


def transpose_ratings(r: Ratings) -> Ratings:
  return Ratings(r.item, r.user, r.rating, r.timestamp)


def transpose(raw: RawData) -> RawData:
  """The dataset with users and items swapped. Item text stays with the
  items, now the task side: text methods do not apply in this world."""
  return dataclasses.replace(
      raw, user_fields=raw.item_fields, item_fields=raw.user_fields,
      item_year={}, item_text={},
      ratings=None if raw.ratings is None else transpose_ratings(raw.ratings),
      fixed_split=None, user_codec=raw.item_codec, item_codec=raw.user_codec)


def make_split(raw: RawData, seed: int, validation_fraction: float
               ) -> scenarios.Split:
  """The user world's split (no validation users), in item-world roles:
  existing_users = existing items, validation_users = validation items,
  new_users = new items; existing_items = existing users."""
  s = scenarios.make_split(raw, seed, 0.0)
  perm = scenarios.rng_for(seed, "validation_items").permutation(
      len(s.existing_items))
  n_val = int(round(validation_fraction * len(s.existing_items)))
  validation = np.sort(s.existing_items[perm[:n_val]])
  return scenarios.Split(
      pool=transpose_ratings(s.pool),
      scenarios={ITEM_WARMUP: transpose_ratings(s.scenarios["item_cold"])},
      existing_users=s.existing_items, new_users=s.new_items,
      validation_users=validation, existing_items=s.existing_users,
      new_items=s.new_users)


def _order(stamps, seed: int, item: int, n: int) -> np.ndarray:
  """An item's ratings, earliest first where timestamps exist (ties in a
  seeded order), else a seeded order."""
  perm = scenarios.rng_for(seed, "item_order", int(item)).permutation(n)
  if stamps is None:
    return perm
  return perm[np.argsort(stamps[perm], kind="stable")]


def make_tasks(r: Ratings, item_index, rated_index, seed: int, salt: int,
               k_shot: int = 0, max_support: int = 0,
               chunk: int = 0) -> tuple[TaskSet, int]:
  """Item tasks from item-world ratings r (r.user = item ids).

  k_shot > 0 (test): support = the item's earliest K ratings, query = 10
    drawn (seeded by seed, salt, item) from its other ratings; items with
    fewer than K + 10 ratings are left out.
  max_support > 0 (validation): support = the earliest min(n - 10,
    max_support), query = 10 drawn from the rest; TaskSet.k_shot(K) then
    gives the earliest K, as the test has them.
  chunk > 0 (meta-training): the ratings in a seeded order, cut into tasks
    of at most `chunk` (10 query, the rest support).
  Items with fewer than 11 ratings are left out in every mode. Returns the
  tasks and the number of items left out.
  """
  g = r.select(np.lexsort((r.item, r.user)))  # By item, then user id.
  starts = np.flatnonzero(np.r_[True, g.user[1:] != g.user[:-1]]) if len(
      g) else np.array([], np.int64)
  q, picks, dropped = scenarios.QUERY_SIZE, [], 0
  for s, e in zip(starts, np.r_[starts[1:], len(g)]):
    item, n = int(g.user[s]), int(e - s)
    if n < max(k_shot, 1) + q:
      dropped += 1
      continue
    if chunk:
      perm = s + scenarios.rng_for(seed, "query", salt, item).permutation(n)
      picks += [(item, p[q:], p[:q]) for p in np.array_split(
          perm, -(-n // chunk)) if len(p) > q]
      continue
    order = s + _order(None if g.timestamp is None else g.timestamp[s:e],
                       seed, item, n)
    k = k_shot or min(n - q, max_support)
    draw = scenarios.rng_for(seed, "query", salt, item).permutation(n - k)
    picks.append((item, order[:k], order[k:][np.sort(draw[:q])]))
  return TaskSet(
      users=item_index(np.array([p[0] for p in picks], np.int64)).astype(
          np.int32),
      support_items=[rated_index(g.item[p[1]]) for p in picks],
      support_ratings=[g.rating[p[1]].astype(np.float32) for p in picks],
      query_items=np.array([rated_index(g.item[p[2]]) for p in picks],
                           np.int32).reshape(-1, q),
      query_ratings=np.array([g.rating[p[2]] for p in picks],
                             np.float32).reshape(-1, q)), dropped


def build_tasks(split: scenarios.Split, tasks_index, rated_index, seed: int,
                k_shot: int) -> tuple[dict, dict]:
  """(task sets, items left out per set): train, validation, item_warmup."""
  pool = split.pool
  is_val = np.isin(pool.user, split.validation_users)
  train, d_train = make_tasks(pool.select(~is_val), tasks_index, rated_index,
                              seed, 0, chunk=TRAIN_TASK_RATINGS)
  val, d_val = make_tasks(pool.select(is_val), tasks_index, rated_index, seed,
                          1, max_support=max(WARMUP_KS))
  test, d_test = scenario_tasks(split, tasks_index, rated_index, seed, k_shot)
  return ({"train": train, "validation": val, ITEM_WARMUP: test},
          {"train": d_train, "validation": d_val, ITEM_WARMUP: d_test})


def left_out(split: scenarios.Split, k_shot: int) -> int:
  """How many new items item_warmup leaves out at K = k_shot (0:
  DEFAULT_K): those with fewer than K + 10 ratings by existing users."""
  _, counts = np.unique(split.scenarios[ITEM_WARMUP].user, return_counts=True)
  return int(np.sum(counts < (k_shot or DEFAULT_K) + scenarios.QUERY_SIZE))


def scenario_tasks(split, tasks_index, rated_index, seed: int, k_shot: int):
  """The item_warmup tasks at K = k_shot (0: DEFAULT_K)."""
  return make_tasks(split.scenarios[ITEM_WARMUP], tasks_index, rated_index,
                    seed, 2, k_shot=k_shot or DEFAULT_K)
