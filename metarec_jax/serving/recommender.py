"""Serve a trained run: adapt to a user's ratings, rank unrated items.

`Recommender.load(run_dir)` rebuilds the run's method and data from
results.json's config and restores its selected parameters (<run>/params):
a scripts/main.py workdir or any table row's runs/<row>/seed<s>, ensembles
and text rows included. Scores come from evaluation/predict.py's jitted
adapt-then-predict, the function the tables are computed with, at fixed
shapes: users are padded to one of USER_BUCKETS, support sets to one of the
run's support buckets, and every item is a query, so a server compiles at
most len(USER_BUCKETS) x len(buckets) programs however many requests arrive.

A user with no ratings has an all-zero support mask: the support loss and
its gradient are zero, so the prediction is the meta-learned prior. A new
user has no side features (an all-padding row of the user tables); a user
of the training data may be named to use theirs.

  rec = Recommender.load("workdirs/quickstart")
  state = rec.adapt([(50, 5.0), (181, 4.0)])
  state = rec.update(state, [(1, 3.0)])   # re-adapts from the prior
  rec.top_k(state, 10)                     # [(item id, score, raw)]

Item and user ids are the training data's, as given: strings for a string
catalogue (ISBNs), ints for integer ids (`"50"` is accepted for 50).
"""

import dataclasses
import os

import jax
import ml_collections
import numpy as np

from metarec_jax.core import io
from metarec_jax.core.errors import ServingError
from metarec_jax.core.types import TaskBatch
from metarec_jax.data import batching, pipeline
from metarec_jax.data import ids as ids_lib
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, registry
from metarec_jax.serving import ratings_input
from metarec_jax.train import checkpoints

USER_BUCKETS = (1, 8, 64)


@dataclasses.dataclass
class UserState:
  """A user as adapted so far: their ratings and the adapted scores.

  Attributes:
    items: [n] the ids of the items the user rated, as given (oldest
      first).
    ratings: float32 [n].
    scores: float32 [I] predicted rating of every item, in item-vocab order,
      from the meta-learned initialisation adapted on (items, ratings).
    user: the user's original id when their features were used, else None.
  """
  items: np.ndarray
  ratings: np.ndarray
  scores: np.ndarray
  user: int | str | None = None


def load_config(run_dir: str) -> ml_collections.ConfigDict:
  path = os.path.join(run_dir, "results.json")
  if not os.path.isfile(path):
    raise ServingError(f"{path}: not found; --workdir must be a finished run "
                       "(scripts/main.py's workdir, or a table's "
                       "runs/<row>/seed<s>).")
  return ml_collections.ConfigDict(io.read_json(path, "a run's results")
                                   ["config"])


class Recommender:
  """A trained method plus the vocabularies needed to speak original ids."""

  def __init__(self, config, prep, method, params):
    self.config, self.prep = config, prep
    self.method, self.params = method, params
    self.hparams = base.hparams(config)
    self.support_buckets = tuple(config.data.buckets)
    self.item_ids = prep.items.labels(np.arange(len(prep.items)))
    self.rating_range = prep.rating_range
    # One extra user row with no features: the new user.
    tables = dict(prep.tables)
    tables["user"] = {k: np.concatenate([v, np.zeros((1,) + v.shape[1:],
                                                     v.dtype)])
                      for k, v in prep.tables["user"].items()}
    self.tables = jax.tree.map(np.asarray, tables)
    self.new_user = len(prep.users)

  @classmethod
  def load(cls, run_dir: str) -> "Recommender":
    config = load_config(run_dir)
    prep = pipeline.prepare(config.data, config.seed)
    method = registry.build(config, prep)
    return cls(config, prep, method,
               checkpoints.restore_for(run_dir, method, prep.tables))

  def user_index(self, user) -> int:
    """A known user's dense index (their side features), else the new-user
    row (None: a new user)."""
    if user is None:
      return self.new_user
    try:
      return int(self.prep.users.lookup([user])[0])
    except KeyError:
      task = ratings_input.roles_for(self.prep.task_axis).task
      raise ServingError(f"{task}_id {user}: not a {task} of the training "
                         f"data; leave it out to serve a new {task}."
                         ) from None

  def item_index(self, ids, source: str = "input") -> np.ndarray:
    """Ids as given -> dense indices; unknown ids are one error listing all."""
    ids = list(ids)
    known = self.known_items
    # Numeric order for integer-looking ids, then string order.
    unknown = sorted({str(i) for i in ids} - known, key=lambda v: (
        (0, int(v), "") if ids_lib.is_canonical_int(v) else (1, 0, v)))
    if unknown:
      more = len(unknown) - 20
      rated = ratings_input.roles_for(self.prep.task_axis).rated
      raise ServingError(
          f"{source}: {len(unknown)} {rated} id(s) unknown to the model: "
          f"{', '.join(unknown[:20])}{f' and {more} more' if more > 0 else ''}"
          f"; remove them (the model knows the {rated}s of its training "
          "data).")
    return self.prep.items.lookup(ids) if ids else np.zeros(0, np.int32)

  @property
  def known_items(self) -> set:
    """Every item id the model scores, as strings (what a file holds)."""
    if not hasattr(self, "_known"):
      self._known = {str(i) for i in self.item_ids}
    return self._known

  def serving_batch(self, supports: list, users=None,
                    user_buckets=USER_BUCKETS) -> TaskBatch:
    """supports: [(item indices, ratings)] -> one batch scoring every item:
    users padded to a user_buckets size, supports to a run bucket."""
    largest = self.support_buckets[-1]
    n = max((min(len(s[0]), largest) for s in supports), default=0)
    size = batching.bucket_for(n, self.support_buckets)
    t = next((b for b in user_buckets if len(supports) <= b), None)
    if t is None:
      raise ValueError(f"at most {user_buckets[-1]} users per call")
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
    user = np.full(t, self.new_user, np.int32)
    user[:len(supports)] = [self.user_index(u) for u in
                            (users or [None] * len(supports))]
    return TaskBatch(
        user=user, support_items=s_items,
        support_ratings=s_ratings, support_mask=s_mask,
        query_items=np.ascontiguousarray(every),
        query_ratings=np.zeros(every.shape, np.float32),
        query_mask=np.ones(every.shape, np.float32),
        task_mask=(np.arange(t) < len(supports)).astype(np.float32))

  def _scores(self, supports: list, users=None) -> np.ndarray:
    """[len(supports), I] adapted predictions, USER_BUCKETS[-1] at a time."""
    out, step = [], USER_BUCKETS[-1]
    for i in range(0, max(len(supports), 1), step):
      chunk = supports[i:i + step]
      batch = self.serving_batch(chunk, users[i:i + step] if users else None)
      out.append(predict.predict_batch(self.method, self.params, self.tables,
                                       batch, self.hparams)[:len(chunk)])
    return np.concatenate(out)[:len(supports)]

  def adapt_many(self, users: list, source: str = "input",
                 user_ids=None) -> list:
    """users: [[(item id, rating), ...], ...] -> [UserState]. user_ids:
    None, or per user an original user id (their features) or None."""
    supports, raw = [], []
    for ratings in users:
      dense = self.item_index([i for i, _ in ratings], source)
      ys = np.array([r for _, r in ratings], np.float32)
      raw.append((self.prep.items.labels(dense), ys))
      supports.append((dense, ys))
    user_ids = list(user_ids) if user_ids else [None] * len(users)
    scores = self._scores(supports, user_ids)
    return [UserState(i, y, s, u)
            for (i, y), s, u in zip(raw, scores, user_ids)]

  def adapt(self, ratings, source: str = "input", user=None) -> UserState:
    return self.adapt_many([ratings], source, [user])[0]

  def update(self, state: UserState, new_ratings) -> UserState:
    """Extends the support set (a re-rated item takes the new rating) and
    re-adapts from the meta-learned initialisation, not from `state`."""
    new = {str(i): float(r) for i, r in new_ratings}
    kept = [(i, float(r)) for i, r in zip(state.items, state.ratings)
            if str(i) not in new]
    return self.adapt(kept + list(new.items()), user=state.user)

  def top_k(self, state: UserState, k: int) -> list:
    """[(item id, score, raw score)] best first, rated items excluded.
    Ranked by the raw prediction (ties: the first id in the vocabulary's
    order: numeric for integer ids, else string order); the score is it
    clipped to the rating range, as the evaluation scores predictions (so
    several top items can show the highest rating)."""
    scores = state.scores.astype(np.float64).copy()
    if len(state.items):
      scores[self.item_index(state.items)] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))
    order = [i for i in order[:k] if np.isfinite(scores[i])]
    lo, hi = self.rating_range
    return [(self.item_ids[i], float(np.clip(scores[i], lo, hi)),
             float(scores[i])) for i in order]

  def recommend(self, users: dict, k: int, source: str = "input",
                user_ids=None) -> dict:
    """{user key: [(item id, rating)]} -> {user key: top_k's list}.
    user_ids: {user key: original user id} for users of the training data
    whose side features should be used."""
    keys = list(users)
    states = self.adapt_many([users[u] for u in keys], source,
                             [(user_ids or {}).get(u) for u in keys])
    return {u: self.top_k(s, k) for u, s in zip(keys, states)}
