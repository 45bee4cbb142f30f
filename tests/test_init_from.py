"""config.init_from: a run starts from another run's selected parameters,
leaf by leaf where they mean the same (train/init_from.py)."""

import csv
import os

import jax
import numpy as np
from flax import traverse_util

from metarec_jax.data import pipeline
from metarec_jax.meta import registry
from metarec_jax.train import engine, experiment, init_from
from tiny_run import tiny_config, write_dataset


def _other_catalogue(folder):
  """write_dataset's files with every item id moved by 100 and other genre
  names: the same shapes, another catalogue and another genre vocabulary
  (Action, Comedy, War where the source has Comedy, Drama, War)."""
  write_dataset(folder, n_users=60, seed=1)
  rename = {"Drama|Comedy": "Action|Comedy", "War": "War"}
  for name, col in (("ratings.csv", "item_id"), ("items.csv", "item_id")):
    path = os.path.join(folder, name)
    with open(path) as f:
      rows = list(csv.DictReader(f))
    for r in rows:
      r[col] = str(int(r[col]) + 100)
      if "genres" in r:
        r["genres"] = rename[r["genres"]]
    with open(path, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(rows[0]))
      w.writeheader()
      w.writerows(rows)
  return folder


def _flat(tree):
  return traverse_util.flatten_dict(jax.device_get(tree), sep="/")


def test_leaves_rows_and_ids_transfer_only_where_they_mean_the_same(
    tmp_path):
  src_dir = str(tmp_path / "source")
  config = tiny_config(write_dataset(str(tmp_path / "a")))
  config.method = "melu"
  experiment.train_and_evaluate(config, src_dir)
  source = init_from.Source.load(src_dir)
  src = _flat(source.params)

  # The same catalogue: every leaf, the item ids included.
  prep = pipeline.prepare(config.data, 0)
  fresh = registry.build(config, prep).init(jax.random.key(7), prep.tables)
  params, report = init_from.transfer(
      fresh, source, prep.field_values,
      prep.items.labels(np.arange(len(prep.items))))
  assert not report["fresh"] and not report["rows"]
  for path, leaf in _flat(params).items():
    np.testing.assert_array_equal(leaf, src[path])

  # Another catalogue and genre vocabulary, the same shapes.
  other = tiny_config(_other_catalogue(str(tmp_path / "b")))
  other.method = "melu"
  prep_b = pipeline.prepare(other.data, 0)
  fresh_b = registry.build(other, prep_b).init(jax.random.key(7),
                                               prep_b.tables)
  params_b, report_b = init_from.transfer(
      fresh_b, source, prep_b.field_values,
      prep_b.items.labels(np.arange(len(prep_b.items))))
  got, start = _flat(params_b), _flat(fresh_b)
  ids = "embed/item_id"
  assert ids in report_b["fresh"] and "catalogue" in report_b["fresh"][ids]
  np.testing.assert_array_equal(got[ids], start[ids])
  genre = "embed/item_genres/embedding"
  assert report_b["rows"][genre] == "2 of 3 values"
  names_a = source.field_values["item"]["genres"]
  names_b = prep_b.field_values["item"]["genres"]
  assert names_a != names_b  # The test means something.
  for k, name in enumerate(names_b, start=1):
    want = (src[genre][names_a.index(name) + 1] if name in names_a
            else start[genre][k])
    np.testing.assert_array_equal(got[genre][k], want)
  # Unchanged vocabularies and shapes: copied whole.
  assert "embed/user_gender/embedding" in report_b["transferred"]
  assert "decision/fc1/kernel" in report_b["transferred"]
  np.testing.assert_array_equal(got["decision/fc1/kernel"],
                                src["decision/fc1/kernel"])


def test_the_engine_starts_from_the_source(tmp_path):
  src_dir = str(tmp_path / "source")
  config = tiny_config(write_dataset(str(tmp_path / "a")))
  config.method = "melu_fo"
  experiment.train_and_evaluate(config, src_dir)
  config.init_from = src_dir
  prep = pipeline.prepare(config.data, 0)
  run_dir = str(tmp_path / "target")
  runs = experiment.runs_for(config, prep, run_dir)
  group = engine.Group(runs[0].init_method, runs, config, run_dir)
  start = _flat(engine.take(group.states.params, 0))
  src = _flat(init_from.Source.load(src_dir).params)
  assert start.keys() == src.keys()
  for path in src:
    np.testing.assert_array_equal(start[path], src[path])
  assert os.path.isfile(os.path.join(run_dir, "init_from.json"))
