"""Serving a run on item tasks (data.task_axis=item): items warm up.

In such a run an item is a task: the model adapts to the ratings an item
received and predicts every user's rating of it, as in the item warm-up
table. The service keeps, per item, the ratings it received through the API
(its support; the newest up to the run's largest bucket) and the item's row
of scores over every user row, recomputed (evaluation/predict.py, eight
items per call) when its support, its features or the model version
change. A user's recommendations are their column: every item's prediction
for them. An added item (PUT) takes a free task row with its features, so
its first ratings warm it up at once. A user of the data is their own row;
any other user who rates gets a free user row (no features, the unknown
id vector), as the run's new users have.

Explanations leave each of the item's support ratings out (one batched
call per item); feature removal is not computed for item tasks.
"""

import numpy as np

from metarec_jax.data import item_world
from metarec_jax.serving import explain as explain_lib, items as items_lib
from metarec_jax.serving import recommender, service, versions


class ItemTaskService(service.Service):
  """service.Service's API for a run on item tasks."""

  def _setup(self, rec, raw, embed) -> None:
    del embed  # Item tasks read no item text.
    flipped = item_world.transpose(raw)
    self.items = items_lib.Items(rec, flipped, raw, side="user")
    self.raters = items_lib.Items(rec, flipped, None, side="item")
    self.support = {}  # task row -> {user row: rating}, oldest first
    self.dirty = set(range(len(self.items.labels)))
    self.cache = None  # (model version, [task capacity, user capacity])
    self.embed = None

  def _rater(self, user_id: str, add: bool) -> int:
    """A user's row: theirs in the data, one given before, or (add) a new
    free row; without add, the first free row (every free row is alike)."""
    row = self.raters.rows.get(user_id)
    if row is not None:
      return row
    if add:
      return self.raters.put(user_id, {}, "", user_id)
    return self.raters.free_row()

  def _apply(self, event) -> None:
    if event[0] == "rating":
      _, user, item, rating = event
      task, rater = self.items.row(item), self._rater(user, add=True)
      for table, key, value in ((self.users.setdefault(user, {}), task,
                                 rating),
                                (self.support.setdefault(task, {}), rater,
                                 rating)):
        table.pop(key, None)
        table[key] = value
      self.dirty.add(task)
    else:
      _, item, body = event
      self.items.put(item, body["features"], body["text"], body["title"])
      self.dirty.add(self.items.rows[item])

  def user_row(self, user_id: str) -> int:
    with self.lock:
      return self._rater(user_id, add=False)

  def _task_support(self, task: int) -> tuple:
    largest = self.rec.support_buckets[-1]
    s = self.support.get(task, {})
    return (np.array(list(s), np.int32)[-largest:],
            np.array(list(s.values()), np.float32)[-largest:])

  def _tables(self):
    """The task side's rows beside the user side's."""
    tables = dict(self.raters.snapshot.tables)
    tables["user"] = self.items.snapshot.tables["user"]
    return items_lib.Snapshot(tables, self.raters.snapshot.count,
                              self.raters.host)

  def _scores(self, model) -> np.ndarray:
    """[task rows, user rows] predictions, stale rows recomputed."""
    with self.lock:
      snap, count = self._tables(), len(self.items.labels)
      shape = (self.items.capacity, self.raters.capacity)
      if self.cache is None or self.cache[0] != model.version or \
          self.cache[1].shape != shape:
        self.cache = (model.version, np.zeros(shape, np.float32))
        self.dirty = set(range(count))
      todo, self.dirty = sorted(self.dirty), set()
      supports = [self._task_support(t) for t in todo]
    if todo:
      self.cache[1][todo] = versions.scores(
          self.rec, model, snap.tables, supports, todo, shape[1])
    return self.cache[1]

  def recommend_batch(self, requests: list) -> list:
    model = self.model
    matrix, snap = self._scores(model), self.items.snapshot
    return [(self._top(model, snap, r, matrix[:, r["user_row"]]), model,
             snap) for r in requests]

  def explain(self, req: dict, answer: dict, model, snap) -> dict:
    """Each item's support ratings that move the user's score most."""
    del snap
    tables, user = self._tables(), req["user_row"]
    for item in answer["items"][:service.MAX_EXPLAIN_K]:
      with self.lock:
        support = self._task_support(item["row"])
      loo = explain_lib.leave_one_out(self.rec, model, tables, support,
                                      item["row"], [user])[user]
      item["explanation"] = {"ratings": [
          {"user_id": self.raters.labels[support[0][i]],
           "rating": float(support[1][i]), "change_if_left_out": round(c, 6)}
          for i, c in loo], "features": []}
    return answer


def open_service(run_dir: str, db_path: str) -> service.Service:
  """The service for a run: on user tasks or on item tasks."""
  config = recommender.load_config(run_dir)
  if config.data.get("task_axis", "user") == "item":
    return ItemTaskService(run_dir, db_path)
  return service.Service(run_dir, db_path)
