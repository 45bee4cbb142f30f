"""Items as tasks (data/item_world.py): the role swap, the protocol's rules
for item_warmup, no leakage of validation or test items, and serving a new
item that gets its first ratings."""

import csv
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import melu as melu_config
from metarec_jax.data import item_world, pipeline
from metarec_jax.data.tasks import TaskSet
from metarec_jax.evaluation import floors, predict
from metarec_jax.meta import base, registry
from metarec_jax.serving import recommender
from metarec_jax.train import experiment
import csv_checks

N_USERS, N_ITEMS = 50, 40


def _write(folder, rows, users, items, swap=False):
  """ratings.csv (user, item, rating, timestamp), users.csv and items.csv
  with one plain categorical column `c` each; swap=True writes the
  transposed dataset (users and items exchanged)."""
  os.makedirs(folder, exist_ok=True)
  if swap:
    rows = [(i, u, y, t) for u, i, y, t in rows]
    users, items = items, users
  with open(os.path.join(folder, "ratings.csv"), "w") as f:
    f.write("user_id,item_id,rating,timestamp\n")
    f.writelines(f"{u},{i},{y},{t}\n" for u, i, y, t in rows)
  for name, key, feats in (("users.csv", "user_id", users),
                           ("items.csv", "item_id", items)):
    with open(os.path.join(folder, name), "w") as f:
      f.write(f"{key},c\n")
      f.writelines(f"{e},{v}\n" for e, v in feats.items())
  return folder


def _dataset(seed=0):
  """Dense enough that most items have 11+ ratings; random timestamps."""
  rng = np.random.default_rng(seed)
  rows = []
  for u in range(1, N_USERS + 1):
    for i in rng.choice(np.arange(1, N_ITEMS + 1), rng.integers(15, 35),
                        replace=False):
      rows.append((u, int(i), int(rng.integers(1, 6)),
                   int(rng.integers(0, 10**6))))
  users = {u: f"u{u % 3}" for u in range(1, N_USERS + 1)}
  items = {i: f"i{i % 4}" for i in range(1, N_ITEMS + 1)}
  return rows, users, items


def _config(folder, axis="item"):
  c = melu_config.get_config("csv,smoke")
  c.data.ratings = os.path.join(folder, "ratings.csv")
  c.data.users = os.path.join(folder, "users.csv")
  c.data.items_file = os.path.join(folder, "items.csv")
  c.data.use_tfds, c.data.task_axis = False, axis
  c.data.buckets = (20,)
  c.model.embed_dim, c.model.hidden = 4, (8,)
  c.inner_steps, c.batch_size, c.eval_batch_size = 1, 8, 16
  return c


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  rows, users, items = _dataset()
  folder = _write(str(tmp_path_factory.mktemp("d")), rows, users, items)
  return rows, folder, pipeline.prepare(_config(folder).data, 0)


def test_item_task_equals_user_task_of_the_transpose(data, tmp_path):
  """An item task of R and the same task as a user task of R's transpose
  (its own files, the user-world pipeline) get the same predictions from
  one set of parameters of a model without id embeddings."""
  rows, _, prep = data
  _, users, items = _dataset()
  t_folder = _write(str(tmp_path / "t"), rows, users, items, swap=True)
  c = _config(t_folder, axis="user")
  c.model.item_id_embeddings = False
  c.method = "melu"
  transposed = pipeline.prepare(c.data, 0)
  assert prep.user_fields == transposed.user_fields
  assert prep.item_fields == transposed.item_fields
  tasks = prep.test_tasks(item_world.ITEM_WARMUP)
  assert len(tasks) > 3
  # The same tasks, in the transpose's dense indices.
  remap = lambda a, src, dst: dst.lookup(src.labels(a)).reshape(
      np.shape(a))
  mirrored = TaskSet(
      users=remap(tasks.users, prep.users, transposed.users),
      support_items=[remap(s, prep.items, transposed.items)
                     for s in tasks.support_items],
      support_ratings=tasks.support_ratings,
      query_items=remap(tasks.query_items, prep.items, transposed.items),
      query_ratings=tasks.query_ratings)
  method = registry.build(c, prep)
  params = jax.jit(method.init)(jax.random.key(0), prep.tables)
  hp = base.hparams(c)
  pred = lambda p, t: predict.predict_tasks(method, params, p.tables, t, hp,
                                            16, (20,))
  a, b = pred(prep, tasks), pred(transposed, mirrored)
  np.testing.assert_allclose(a, b, rtol=1e-6)
  # Not trivially equal: the item's features matter.
  shuffled = dict(prep.tables, user={"c": prep.tables["user"]["c"][::-1]})
  assert np.abs(predict.predict_tasks(method, params, shuffled, tasks, hp,
                                      16, (20,)) - a).max() > 1e-4


def _by_item(rows, existing_users):
  out = {}
  for u, i, y, t in rows:
    if u in existing_users:
      out.setdefault(i, []).append((t, u, y))
  return out


def test_warmup_tasks_follow_the_protocol(data):
  """Test tasks: new items, rated by existing users; support = the K
  earliest ratings, query = 10 others; items with < K + 10 left out and
  counted; recomputed from the raw rows."""
  rows, _, prep = data
  s = prep.split
  existing_users = set(prep.items.labels(prep.items.index(s.existing_items)))
  new_items = set(prep.users.labels(prep.users.index(s.new_users)))
  per_item = _by_item(rows, existing_users)
  for k in (1, 5):
    p = pipeline.with_k_shot(prep, 0, k)
    tasks = p.test_tasks(item_world.ITEM_WARMUP)
    eligible = {i for i in new_items if len(per_item.get(i, ())) >= k + 10}
    assert set(p.users.labels(tasks.users)) == eligible
    assert p.left_out[item_world.ITEM_WARMUP] == len(
        {i for i in new_items if i in per_item}) - len(eligible)
    for t in range(len(tasks)):
      item = p.users.labels(tasks.users[t:t + 1])[0]
      history = sorted(per_item[item])  # By timestamp.
      support = p.items.labels(tasks.support_items[t])
      assert support == [u for _, u, _ in history[:k]]
      np.testing.assert_array_equal(tasks.support_ratings[t],
                                    [y for *_, y in history[:k]])
      query = p.items.labels(tasks.query_items[t])
      rated = {u: y for _, u, y in history[k:]}
      assert len(set(query)) == 10 and set(query) <= set(rated)
      np.testing.assert_array_equal(tasks.query_ratings[t],
                                    [rated[u] for u in query])


def test_validation_and_test_items_never_reach_training(data, tmp_path):
  """Training tasks hold only training items; changing every rating of the
  validation and new items changes no training task, no floor statistic
  and no table a model reads."""
  rows, _, prep = data
  s = prep.split
  train_items = set(prep.tasks["train"].users.tolist())
  assert not train_items & set(prep.users.index(s.validation_users).tolist())
  assert not train_items & set(prep.users.index(s.new_users).tolist())
  assert set(prep.tasks["validation"].users.tolist()) <= set(
      prep.users.index(s.validation_users).tolist())
  held = set(prep.users.labels(prep.users.index(np.concatenate(
      [s.validation_users, s.new_users]))))
  changed = [(u, i, 6 - y if i in held else y, t) for u, i, y, t in rows]
  _, users, items = _dataset()
  other = pipeline.prepare(_config(_write(
      str(tmp_path / "c"), changed, users, items)).data, 0)
  assert other.tasks["train"].equals(prep.tasks["train"])
  for a, b in zip(jax.tree.leaves(other.tables), jax.tree.leaves(
      prep.tables)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(other.floor_stats.item_mean,
                                prep.floor_stats.item_mean)
  assert not other.tasks["validation"].equals(prep.tasks["validation"])


def test_run_and_serve_a_new_item(data, tmp_path):
  """scripts/main.py's path on item tasks writes recomputable predictions;
  served, a new item's scores follow its first ratings."""
  _, folder, _ = data
  c = _config(folder)
  c.method, c.num_steps = "melu_fo", 4
  c.log_every = c.eval_every = c.checkpoint_every = 2
  run_dir = str(tmp_path / "run")
  results = experiment.train_and_evaluate(c, run_dir)
  cell = results["scenarios"][item_world.ITEM_WARMUP]
  assert cell["n_tasks"] > 0 and np.isfinite(cell["mae"])
  assert set(results["floors"]) == {"global_mean", "support_mean",
                                    "support_mean_user_bias", "user_mean",
                                    "user_mean_item_bias", "random"}
  with open(os.path.join(run_dir, "predictions_item_warmup.csv")) as f:
    got = list(csv.reader(f))
  assert got[0][:2] == ["item_id", "user_id"] and len(got) == 1 + 10 * cell[
      "n_tasks"]
  err = np.mean([abs(float(r[2]) - float(r[3])) for r in got[1:]])
  assert abs(err - cell["mae"]) < 1e-5
  want = csv_checks.recompute(
      os.path.join(run_dir, "predictions_item_warmup.csv"),
      results["relevance_threshold"], 3)
  for key, value in want.items():
    assert abs(value - cell[key]) < 1e-6, key
  rec = recommender.Recommender.load(run_dir)
  new_item = rec.prep.users.labels(rec.prep.users.index(
      rec.prep.split.new_users[:1]))[0]
  others = np.arange(6, len(rec.item_ids))
  # A new item of the data (its features), then one added at serving time
  # (none): as its ratings arrive, its scores for everyone else follow them.
  for item in (new_item, None):
    for rating, sign in ((5.0, 1), (1.0, -1)):
      state = rec.adapt([], user=item)
      means = [state.scores[others].mean()]
      for start in (0, 3):
        state = rec.update(state, [(u, rating) for u in
                                   rec.item_ids[start:start + 3]])
        means.append(state.scores[others].mean())
      # Toward the ratings from the prior, after 3 and after 6 of them.
      assert np.all(sign * (np.array(means[1:]) - means[0]) > 0.05), (
          item, rating, means)
  # scripts/recommend.py speaks the item world's roles: users rank.
  raters = rec.item_ids[:3]
  mine = tmp_path / "first_ratings.csv"
  mine.write_text("user_id,rating\n" + "".join(f"{u},5\n" for u in raters))
  proc = _recommend(run_dir, mine, f"--item_id={new_item}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)["users"]
  assert len(out) == 4 and not set(raters) & {x["user_id"] for x in out}
  expected = rec.top_k(rec.adapt([(u, 5.0) for u in raters], user=new_item),
                       4)
  assert [x["user_id"] for x in out] == [u for u, *_ in expected]
  mine.write_text("item_id,rating\n1,5\n")
  proc = _recommend(run_dir, mine)
  assert proc.returncode == 2
  assert "expected 'user_id,rating'" in proc.stderr, proc.stderr[-500:]


def _recommend(workdir, ratings, *extra):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run(
      [sys.executable, os.path.join(root, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={ratings}", "--k=4",
       "--format=json", *extra], capture_output=True, text=True,
      timeout=300, check=False)


def test_warmup_table_on_ml100k(tmp_path):
  """configs/tables/warmup.py end to end, two rows and two seeds: item
  floors in their order, cells recomputable from each run's CSV, the curve
  over K, and the table's words are items'."""
  from configs.tables import warmup
  from metarec_jax.experiments import coldstart
  c = warmup.get_config("ml100k,smoke")
  c.methods, c.seeds = ("global", "metaemb"), (0, 1)
  c.num_steps, c.eval_every, c.inner_steps = 2, 2, 1
  c.curve_ks = (1, 3)
  coldstart.reproduce(c, str(tmp_path))
  table = json.loads((tmp_path / "table.json").read_text())
  assert set(table["floors"]) == set(floors.ITEM_FLOORS)
  for name in ("global", "metaemb"):
    maes = []
    for seed in (0, 1):
      run = tmp_path / "runs" / name / f"seed{seed}"
      with open(run / "predictions_item_warmup.csv") as f:
        rows = list(csv.DictReader(f))
      maes.append(np.mean([abs(float(r["rating"]) - float(r["prediction"]))
                           for r in rows]))
    np.testing.assert_allclose(
        table["methods"][name][item_world.ITEM_WARMUP]["mae"]["seeds"],
        maes, atol=2e-6)
  curve = json.loads((tmp_path / "curve.json").read_text())
  assert curve["ks"] == [1, 3] and "support_mean" in curve["floors"]
  text = (tmp_path / "table.md").read_text()
  assert text.startswith("# Item warm-up table: ml100k")
  assert "validation items only" in text
  # The item floors, in floors.py's order (table.json sorts its keys).
  first = text.split("### ")[0]
  rows = [f for f in floors.ITEM_FLOORS if f"_{f}_ (floor)" in first]
  at = lambda f: first.index(f"_{f}_ (floor)")
  assert rows == sorted(rows, key=at) and len(rows) == 6
