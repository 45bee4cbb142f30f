"""Existing/new users and items, the four scenarios, validation users, tasks.

Everything here follows docs/protocol.md. All randomness comes from
numpy Generators seeded by (seed, purpose), so the same seed gives the same
split and the same support/query draws on any machine.
"""

import dataclasses

import numpy as np

from metarec_jax.data.sources import Ratings, RawData
from metarec_jax.data.tasks import TaskSet

SCENARIOS = ("warm", "user_cold", "item_cold", "user_item_cold")
QUERY_SIZE = 10
MIN_RATINGS = 13
MAX_RATINGS = 100

_PURPOSE = {"users": 1, "warm": 2, "validation": 3, "query": 4, "train": 5,
            "validation_items": 6, "item_order": 7}


def rng_for(seed: int, purpose: str, *extra: int) -> np.random.Generator:
  return np.random.default_rng([seed, _PURPOSE[purpose], *extra])


@dataclasses.dataclass
class Split:
  """Ratings per role, and who is existing, new or held out for validation.

  `pool` is meta-training data (existing users x existing items, the warm
  hold-out removed), validation users included; `train_pool` excludes them.
  """
  pool: Ratings
  scenarios: dict
  existing_users: np.ndarray
  new_users: np.ndarray
  validation_users: np.ndarray
  existing_items: np.ndarray
  new_items: np.ndarray

  @property
  def train_pool(self) -> Ratings:
    return self.pool.select(~np.isin(self.pool.user, self.validation_users))

  @property
  def validation_pool(self) -> Ratings:
    return self.pool.select(np.isin(self.pool.user, self.validation_users))


def _split_by_rule(raw: RawData, seed: int) -> Split:
  """Items by release year, users 80/20 at random, warm = 20% held out."""
  r = raw.ratings
  items = np.unique(r.item)
  if raw.new_items is not None:
    is_new = np.isin(items, raw.new_items)
  else:
    years = np.array([raw.item_year.get(int(i), 0) for i in items])
    is_new = years >= raw.new_item_year
  new_items, existing_items = items[is_new], items[~is_new]
  users = np.unique(r.user)
  perm = rng_for(seed, "users").permutation(len(users))
  n_new = int(round(0.2 * len(users)))
  new_users = np.sort(users[perm[:n_new]])
  existing_users = np.sort(users[perm[n_new:]])
  user_new = np.isin(r.user, new_users)
  item_new = np.isin(r.item, new_items)
  existing = r.select(~user_new & ~item_new)
  # Warm hold-out: a seeded 20% of each existing user's existing-item ratings.
  rng = rng_for(seed, "warm")
  order = np.lexsort((existing.item, existing.user))
  existing = existing.select(order)
  held = np.zeros(len(existing), bool)
  starts = np.flatnonzero(np.r_[True, existing.user[1:] != existing.user[:-1]])
  for s, e in zip(starts, np.r_[starts[1:], len(existing)]):
    k = int(round(0.2 * (e - s)))
    held[s + rng.choice(e - s, size=k, replace=False)] = True
  scenarios = {
      "warm": existing.select(held),
      "user_cold": r.select(user_new & ~item_new),
      "item_cold": r.select(~user_new & item_new),
      "user_item_cold": r.select(user_new & item_new),
  }
  return Split(existing.select(~held), scenarios, existing_users, new_users,
               np.array([], np.int64), existing_items, new_items)


def _split_fixed(raw: RawData) -> Split:
  s = raw.fixed_split
  existing_users = np.unique(np.concatenate(
      [s["pool"].user, s["warm"].user, s["item_cold"].user]))
  new_users = np.unique(np.concatenate(
      [s["user_cold"].user, s["user_item_cold"].user]))
  existing_items = np.unique(np.concatenate(
      [s["pool"].item, s["warm"].item, s["user_cold"].item]))
  new_items = np.unique(np.concatenate(
      [s["item_cold"].item, s["user_item_cold"].item]))
  return Split(s["pool"], {k: s[k] for k in SCENARIOS}, existing_users,
               new_users, np.array([], np.int64), existing_items, new_items)


def make_split(raw: RawData, seed: int, validation_fraction: float = 0.1
               ) -> Split:
  split = _split_fixed(raw) if raw.fixed_split else _split_by_rule(raw, seed)
  pool_users = np.unique(split.pool.user)
  n_val = int(round(validation_fraction * len(pool_users)))
  perm = rng_for(seed, "validation").permutation(len(pool_users))
  split.validation_users = np.sort(pool_users[perm[:n_val]])
  return split


def _group_by_user(r: Ratings):
  """Yields (user, items, ratings) in user-id order, items in id order."""
  order = np.lexsort((r.item, r.user))
  u, i, y = r.user[order], r.item[order], r.rating[order]
  starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else []
  ends = np.r_[starts[1:], len(u)] if len(u) else []
  for s, e in zip(starts, ends):
    yield u[s], i[s:e], y[s:e]


def make_tasks(r: Ratings, user_index, item_index, seed: int, salt: int,
               k_shot: int = 0, split_long: bool = False) -> TaskSet:
  """One task per user with 13..100 ratings: 10 query, the rest support.

  Args:
    r: the scenario's ratings (original ids).
    user_index, item_index: callables mapping original ids to dense indices.
    seed, salt: the query draw is seeded by (seed, salt, user id).
    k_shot: if > 0, support is exactly K (users with < K + 10 dropped).
    split_long: for meta-training only: users with more than 100 ratings are
      cut into several tasks of at most 100 instead of being dropped.
  """
  users, s_items, s_ratings, q_items, q_ratings = [], [], [], [], []
  for uid, items, ys in _group_by_user(r):
    n = len(items)
    lo = max(MIN_RATINGS, k_shot + QUERY_SIZE if k_shot else 0)
    if n < lo or (n > MAX_RATINGS and not split_long):
      continue
    perm = rng_for(seed, "query", salt, int(uid)).permutation(n)
    chunks = np.array_split(perm, -(-n // MAX_RATINGS))
    for chunk in chunks:
      query, support = chunk[:QUERY_SIZE], chunk[QUERY_SIZE:]
      if k_shot:
        support = support[:k_shot]
      users.append(int(uid))
      s_items.append(item_index(items[support]))
      s_ratings.append(ys[support].astype(np.float32))
      q_items.append(item_index(items[query]))
      q_ratings.append(ys[query].astype(np.float32))
  q_shape = (0, QUERY_SIZE)
  return TaskSet(
      users=user_index(np.array(users, np.int64)).astype(np.int32),
      support_items=s_items, support_ratings=s_ratings,
      query_items=np.array(q_items, np.int32).reshape(q_shape if not users
                                                      else (-1, QUERY_SIZE)),
      query_ratings=np.array(q_ratings, np.float32).reshape(
          q_shape if not users else (-1, QUERY_SIZE)))
