"""Live refresh: continue meta-training a served run on its service's users.

`refresh(run_dir, db_path, steps)` starts the one engine (train/engine.py)
from the served version's parameters (engine.Run.init_params), with the
database's users as extra meta-training tasks beside the run's own: each
user with 13..100 ratings of catalogue items is a task as in
data/scenarios.make_tasks (10 query ratings, the rest support). Validation
users are untouched: a database user who is a validation user of the data
is left out (so are new users' tasks where the method has no gradient for a
user without side features, MAMO's memory attention), and selection reads the validation tasks only, as in training;
the served parameters compete as step 0, so a refresh never serves a
version that validates worse. The result is version n + 1
(serving/versions.py), which a running service switches to.

Ratings of items added while serving are left out (their rows are not in
the run's tables); so are runs on item tasks and ensembles.
"""

import collections
import dataclasses
import os

import jax
import numpy as np

from metarec_jax.core.errors import ServingError
from metarec_jax.data import batching, scenarios
from metarec_jax.data.sources import Ratings
from metarec_jax.data.tasks import TaskSet
from metarec_jax.evaluation import selection
from metarec_jax.meta import registry
from metarec_jax.serving import events, recommender, versions
from metarec_jax.train import checkpoints, engine

SALT = 1000  # query draws of database tasks, apart from the data's salts


def db_ratings(rec, store: events.EventStore) -> tuple[Ratings, dict]:
  """The database's final ratings of catalogue items (a re-rated item
  counts once, newest), as int64 codes; and {user code: table row}."""
  final = collections.defaultdict(dict)
  for event in store.replay():
    if event[0] == "rating":
      _, user, item, rating = event
      final[user][item] = rating
  known = rec.known_items
  validation = {str(u) for u in rec.prep.users.codec.decode(
      rec.prep.split.validation_users)}
  users, items, ys, rows = [], [], [], {}
  for code, user in enumerate(sorted(final)):
    if user in validation:
      continue
    try:
      rows[code] = int(rec.prep.users.lookup([user])[0])
    except (KeyError, ValueError):
      rows[code] = rec.new_user
    for item, rating in final[user].items():
      if item in known:
        users.append(code)
        items.append(int(rec.prep.items.ids[rec.item_index([item])[0]]))
        ys.append(rating)
  return Ratings.from_lists(users, items, ys), rows


def concat(a: TaskSet, b: TaskSet) -> TaskSet:
  return TaskSet(np.concatenate([a.users, b.users]),
                 a.support_items + b.support_items,
                 a.support_ratings + b.support_ratings,
                 np.concatenate([a.query_items, b.query_items]),
                 np.concatenate([a.query_ratings, b.query_ratings]))


def finite_gradient(rec, params, tasks: TaskSet) -> bool:
  """Whether the method's meta-gradient is finite on (a batch of) these
  tasks. A new user has no side features, an all-zero row: MAMO's memory
  attention (a cosine with the user's profile) has no gradient there."""
  idx = np.arange(min(len(tasks), rec.config.batch_size))
  size = batching.bucket_for(int(tasks.support_sizes[idx].max()),
                             rec.config.data.buckets)
  batch = batching.pad_tasks(tasks, idx, size, rec.config.batch_size)
  loss = lambda p: rec.method.meta_loss(p, rec.tables, batch,
                                        jax.random.key(0), rec.hparams)[0]
  grads = jax.jit(jax.grad(loss))(params)
  return all(bool(np.isfinite(g).all()) for g in jax.tree.leaves(grads))


def refreshed_prep(rec, params, store, salt: int):
  """(the run's data with the database's tasks added to training, a count
  of those tasks {"tasks", "new_user_tasks_left_out"})."""
  r, rows = db_ratings(rec, store)
  user_index = lambda codes: np.array([rows[int(c)] for c in codes],
                                      np.int32)
  tasks = scenarios.make_tasks(r, user_index, rec.prep.items.index,
                               rec.config.seed, salt, split_long=True)
  new = tasks.users == rec.new_user
  left_out = 0
  if new.any() and not finite_gradient(rec, params,
                                       tasks.subset(np.flatnonzero(new))):
    tasks, left_out = tasks.subset(np.flatnonzero(~new)), int(new.sum())
  prep = dataclasses.replace(rec.prep, tables=rec.tables, tasks={
      "train": concat(rec.prep.tasks["train"], tasks),
      "validation": rec.prep.tasks["validation"]})
  return prep, {"tasks": len(tasks), "new_user_tasks_left_out": left_out}


def refresh(run_dir: str, db_path: str, steps: int) -> dict:
  """Trains version latest + 1 from the latest; returns its record."""
  if not os.path.isfile(db_path):
    raise ServingError(f"{db_path}: no such event database; --db must be a "
                       "service's (scripts/serve.py --db).")
  rec = recommender.Recommender.load(run_dir)
  config = rec.config
  if rec.prep.task_axis == "item" or config.method == registry.ENSEMBLE:
    raise ServingError(f"{run_dir}: refresh continues one run on user "
                       "tasks; this run is on item tasks or an ensemble.")
  parent = versions.latest(run_dir)
  params = versions.load(rec, run_dir, parent).params
  store = events.EventStore(db_path)
  prep, counts = refreshed_prep(rec, params, store, SALT + parent + 1)
  n_events = store.count()
  store.close()
  c = config.copy_and_resolve_references()
  c.num_steps = steps
  c.eval_every = c.checkpoint_every = c.log_every = min(c.eval_every, steps)
  version = parent + 1
  folder = versions.version_dir(run_dir, version)
  run = engine.Run(c, prep, config.seed + version, folder, rec.method,
                   init_params=params)
  trained = engine.train(rec.method, [run], c, folder)
  record = {k: trained.records[0][k] for k in ("best_step",
                                               "best_validation_mae")}
  parent_mae = selection.validation_mae(rec.method, params, prep,
                                        rec.hparams, c)
  if parent_mae <= record["best_validation_mae"]:
    # The served parameters validate at least as well: they are kept.
    checkpoints.save_params(folder, params)
    record.update(best_step=0, best_validation_mae=parent_mae)
  record.update(parent=parent, parent_validation_mae=parent_mae,
                db_events=n_events, db_tasks=counts["tasks"],
                db_new_user_tasks_left_out=counts["new_user_tasks_left_out"],
                steps=steps)
  versions.write_record(run_dir, version, record)
  return {"version": version, **record}
