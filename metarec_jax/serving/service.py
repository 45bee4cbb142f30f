"""The recommendation service's state, without HTTP: events in, top-k out.

`Service(run_dir, db)` loads a finished run (any main.py workdir or table
row) once, replays the event database (serving/events.py) into users'
supports and added items, and serves the newest finished model version
(serving/versions.py). Writes are validated first (a bad one changes
nothing), committed, then applied, under one lock, so memory is always the
replay of the log. Scores come from versions.scores: evaluation/predict.py's
adapt-then-predict, so a user's served scores are recommend.py's for the
same ratings.
"""

import math
import threading

import numpy as np

from metarec_jax.core.errors import ServingError
from metarec_jax.data import pipeline
from metarec_jax.serving import events, explain, items as items_lib
from metarec_jax.serving import recommender, versions
from metarec_jax.text import item_cache

MAX_K = 100
MAX_EXPLAIN_K = 20


class Service:
  """Users' supports, the item rows and the served model version."""

  def __init__(self, run_dir: str, db_path: str, embed=None):
    """embed: texts -> [n, h] for added items' text (default: the run's
    frozen encoder, for a run that reads item text)."""
    self.run_dir = run_dir
    self.rec = rec = recommender.Recommender.load(run_dir)
    self.lock = threading.Lock()
    self.users = {}  # user id -> {item row: rating}, oldest first
    self._setup(rec, pipeline.load_raw(rec.config.data, rec.config.seed),
                embed)
    self.store = events.EventStore(db_path)
    for event in self.store.replay():
      self._apply(event)
    self.model = versions.load(rec, run_dir, versions.latest(run_dir))

  def _setup(self, rec, raw, embed) -> None:
    """The served rows: here the catalogue's items (a run on user tasks)."""
    if rec.prep.task_axis == "item":
      raise ServingError(f"{self.run_dir}: a run on item tasks; serve it "
                         "with serving.item_tasks.ItemTaskService.")
    self.items = items_lib.Items(rec, raw, raw)
    if embed is None and self.items.text_dim:
      model_dir = rec.config.data.get("text_model_dir") or None
      embed = lambda texts: item_cache.encode_cached(texts, model_dir)
    self.embed = embed

  # Writes.
  def _apply(self, event) -> None:
    if event[0] == "rating":
      _, user, item, rating = event
      support = self.users.setdefault(user, {})
      row = self.items.row(item)
      support.pop(row, None)  # A re-rated item moves to the newest end.
      support[row] = rating
    else:
      _, item, body = event
      self.items.put(item, body["features"], body["text"], body["title"],
                     self.embed)

  def check_ratings(self, ratings: list) -> list:
    """[(item id, rating)] -> [(item id str, float)] or one ServingError."""
    lo, hi = self.rec.rating_range
    unknown = [str(i) for i, _ in ratings if str(i) not in self.items.rows]
    if unknown:
      raise ServingError(f"ratings: {len(unknown)} item id(s) not in the "
                         f"catalogue: {', '.join(unknown[:20])}; add them "
                         "with PUT /v1/items/{item_id} first.")
    for n, (_, r) in enumerate(ratings):
      if not math.isfinite(r) or not lo <= r <= hi:
        raise ServingError(f"ratings[{n}].rating: {r!r} is outside the "
                           f"model's range {lo:g}..{hi:g}.")
    return [(str(i), float(r)) for i, r in ratings]

  def add_ratings(self, user_id: str, ratings: list) -> int:
    """Commits then applies the ratings; returns how many."""
    ratings = self.check_ratings(ratings)
    with self.lock:
      self.store.add_ratings(user_id, ratings)
      for item, r in ratings:
        self._apply(("rating", user_id, item, r))
    return len(ratings)

  def put_item(self, item_id: str, features: dict, text: str,
               title: str) -> dict:
    self.items.check(item_id, features, text)
    body = {"features": features, "text": text, "title": title}
    with self.lock:
      self.store.put_item(item_id, body)
      self._apply(("item", item_id, body))
    return self.items.describe(self.items.rows[item_id])

  # Reads.
  def ratings_of(self, user_id: str) -> list:
    with self.lock:
      support = dict(self.users.get(user_id, {}))
    return [{"item_id": self.items.labels[r], "rating": y,
             "title": self.items.info[r].get("title")}
            for r, y in support.items()]

  def user_row(self, user_id: str) -> int:
    """A user of the training data: their feature row; else the new one."""
    try:
      return int(self.rec.prep.users.lookup([user_id])[0])
    except (KeyError, ValueError):
      return self.rec.new_user

  def request(self, user_id: str, k: int) -> dict:
    """What a recommendation needs, read now: the served support (the
    newest ratings up to the run's largest bucket), rated rows, user row."""
    if not 1 <= k <= MAX_K:
      raise ServingError(f"k: {k}; choose 1..{MAX_K}.")
    with self.lock:
      support = dict(self.users.get(user_id, {}))
    rows = np.array(list(support), np.int32)
    ys = np.array(list(support.values()), np.float32)
    largest = self.rec.support_buckets[-1]
    return {"support": (rows[-largest:], ys[-largest:]), "rated": rows,
            "user_row": self.user_row(user_id), "k": k}

  def recommend_batch(self, requests: list) -> list:
    """One jitted adaptation for every request (the batcher's function):
    per request (answer, the model version and item snapshot scored)."""
    model, snap = self.model, self.items.snapshot
    n_items = snap.tables["item_id"].shape[0]
    scores = versions.scores(self.rec, model, snap.tables,
                             [r["support"] for r in requests],
                             [r["user_row"] for r in requests], n_items)
    return [(self._top(model, snap, r, s), model, snap)
            for r, s in zip(requests, scores)]

  def _top(self, model, snap, req: dict, scores: np.ndarray) -> dict:
    scores = scores.astype(np.float64).copy()
    scores[snap.count:] = -np.inf
    scores[req["rated"]] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))[:req["k"]]
    order = [int(i) for i in order if np.isfinite(scores[i])]
    lo, hi = self.rec.rating_range
    return {"model_version": model.version, "items": [
        {"item_id": self.items.labels[i],
         "title": self.items.info[i].get("title"),
         "score": round(float(np.clip(scores[i], lo, hi)), 6),
         "raw_score": round(float(scores[i]), 6), "row": i} for i in order]}

  def explain(self, req: dict, answer: dict, model, snap) -> dict:
    """Adds each item's explanation (explain.py) to an answer, computed
    with the model version and item snapshot the answer was scored with."""
    rows = [item["row"] for item in answer["items"][:MAX_EXPLAIN_K]]
    ids = [self.items.labels[i] for i in req["support"][0]]
    found = explain.explain(self.rec, model, self.items, snap,
                            req["support"], ids, req["user_row"], rows)
    for item, row in zip(answer["items"], rows):
      item["explanation"] = found[row]
    return answer

  # Versions.
  def refresh(self) -> bool:
    """Loads a newer finished version, if any, beside the served one, then
    switches new requests to it; True if it switched."""
    newest = versions.latest(self.run_dir)
    if newest <= self.model.version:
      return False
    self.model = versions.load(self.rec, self.run_dir, newest)
    return True

  def close(self) -> None:
    self.store.close()
