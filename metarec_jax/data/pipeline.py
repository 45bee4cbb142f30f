"""Raw files -> split -> feature tables -> task sets, stored through TFDS.

`prepare(data_config, seed)` is the one entry point every script calls. The
prepared tasks are materialised once per data fingerprint as array_record
files (tfds_builder.py) and read back with tfds.data_source.

The four test scenarios are read through `Prepared.test_tasks(name)` only:
training and selection use `tasks["train"]` and `tasks["validation"]`, and a
test can make that accessor raise to prove nothing else reads them.
"""

import dataclasses
import hashlib
import json
import os
import time

from absl import logging
import numpy as np

from metarec_jax.core import assets
from metarec_jax.core.errors import ConfigError, ScenarioLeak
from metarec_jax.data import (bookcrossing, csv_source, features, item_text,
                              item_world, scenarios, sources, stats,
                              tfds_builder)
from metarec_jax.data.tasks import TaskSet

TASK_FORMAT_VERSION = "tasks-v1"
FIT_SPLITS = ("train", "validation")


@dataclasses.dataclass
class Prepared:
  """Everything downstream code needs about one dataset and seed."""
  name: str
  split: scenarios.Split
  users: features.Vocab
  items: features.Vocab
  # numpy: {"user": {f: [U, w]}, "item": {...}, "item_id": [I],
  # "item_mean": [I] (meta-training item means), "item_count": [I] (their
  # rating counts), "global_mean": [], "item_text": [I, h]?}
  tables: dict
  user_fields: tuple     # ((name, vocab_size), ...)
  item_fields: tuple
  num_item_ids: int      # existing items; id 0 = unknown
  tasks: dict            # "train", "validation" -> TaskSet
  scenario_tasks: dict   # test scenario -> TaskSet; read via test_tasks()
  floor_stats: stats.FloorStats
  rating_range: tuple
  # "user": tasks are users (the four scenarios); "item": tasks are items,
  # users and items swapped throughout (data/item_world.py).
  task_axis: str = "user"
  # Test tasks left out, by scenario: items with fewer than K + 10 ratings
  # (item warm-up); users outside 13..100 ratings are the protocol's rule.
  left_out: dict = dataclasses.field(default_factory=dict)
  # {"user": {field: value names}, "item": {...}}: the value behind each
  # 1-based index of the feature tables.
  field_values: dict = dataclasses.field(default_factory=dict)

  @property
  def scenario_names(self) -> tuple:
    return tuple(self.scenario_tasks)

  def test_tasks(self, name: str) -> TaskSet:
    """One test scenario's tasks: for evaluation after training only."""
    if name not in self.scenario_tasks:
      raise ScenarioLeak(f"no test scenario {name!r}")
    return self.scenario_tasks[name]


def data_path(data_config) -> str:
  """The folder or zip a run reads: config.data.path, else (ML-1M) the
  METAREC_ML1M_DIR environment variable."""
  if data_config.name == "ml1m" and not data_config.get("path"):
    return os.environ.get("METAREC_ML1M_DIR", "")
  return data_config.get("path") or ""


def load_raw(data_config, seed: int = 0) -> sources.RawData:
  if data_config.name == "csv":
    return csv_source.load(data_config, seed)
  if data_config.name == "ml100k":
    return sources.load_ml100k(data_config.get("path") or None)
  if data_config.name == "ml1m":
    return sources.load_ml1m(data_path(data_config))
  if data_config.name == "bookcrossing":
    return bookcrossing.load(data_config.get("path") or None)
  raise ConfigError(f"--config.data.name={data_config.name!r}: unknown "
                    "dataset; choose ml100k, ml1m, bookcrossing or csv.")


def fingerprint(data_config, seed: int) -> str:
  # Text options change the feature tables, never the tasks; the relevance
  # threshold only what the metrics count.
  config = {k: v for k, v in data_config.to_dict().items()
            if not k.startswith("text") and k != "relevance_threshold"}
  if config.get("task_axis") == "user":  # The key of tasks made before it.
    del config["task_axis"]
  key = json.dumps({"config": config, "seed": seed,
                    "version": TASK_FORMAT_VERSION}, sort_keys=True)
  if data_config.name == "csv":  # Your own files may change under one name.
    key += json.dumps(csv_source.content_digest(data_config), sort_keys=True)
  return hashlib.sha256(key.encode()).hexdigest()[:16]


def build_tasks(split, users, items, seed: int, k_shot: int,
                axis: str = "user") -> dict:
  uidx, iidx = users.index, items.index
  if axis == "item":
    tasks, dropped = item_world.build_tasks(split, uidx, iidx, seed, k_shot)
    logging.info("  item tasks left out (fewer than K + 10 ratings): %s",
                 dropped)
    return tasks
  tasks = {
      "train": scenarios.make_tasks(split.train_pool, uidx, iidx, seed, 0,
                                    split_long=True),
      "validation": scenarios.make_tasks(split.validation_pool, uidx, iidx,
                                         seed, 1),
  }
  return {**tasks, **scenario_tasks(split, users, items, seed, k_shot)}


def scenario_tasks(split, users, items, seed: int, k_shot: int,
                   task_axis: str = "user") -> dict:
  """The test scenarios' tasks (support cut to k_shot when > 0)."""
  if task_axis == "item":
    return {item_world.ITEM_WARMUP: item_world.scenario_tasks(
        split, users.index, items.index, seed, k_shot)[0]}
  return {name: scenarios.make_tasks(split.scenarios[name], users.index,
                                     items.index, seed, salt, k_shot=k_shot)
          for salt, name in enumerate(scenarios.SCENARIOS, 2)}


def with_k_shot(prep: "Prepared", seed: int, k_shot: int) -> "Prepared":
  """prep with its test scenarios rebuilt at support size k_shot: the same
  tasks prepare() gives for data.k_shot = k_shot, without reloading the
  files (k_shot changes no split, table or training task)."""
  return dataclasses.replace(
      prep, scenario_tasks=scenario_tasks(prep.split, prep.users, prep.items,
                                          seed, k_shot, prep.task_axis),
      left_out=left_out(prep.split, prep.task_axis, k_shot))


def task_axis(data_config) -> str:
  axis = data_config.get("task_axis", "user")
  if axis not in ("user", "item"):
    raise ConfigError(f"--config.data.task_axis={axis!r}: choose user or "
                      "item.")
  if axis == "item" and data_config.text_features:
    raise ConfigError("--config.data.task_axis=item: item tasks use no item "
                      "text yet (the text sits on the task's side); set "
                      "--config.data.text_features=False.")
  return axis


def left_out(split, axis: str, k_shot: int) -> dict:
  if axis != "item":
    return {}
  return {item_world.ITEM_WARMUP: item_world.left_out(split, k_shot)}


def split_for(raw, data_config, seed: int, axis: str):
  """(raw data in the task axis' roles, its split)."""
  if axis == "item":
    split = item_world.make_split(raw, seed, data_config.validation_fraction)
    return item_world.transpose(raw), split
  return raw, scenarios.make_split(raw, seed, data_config.validation_fraction)


def kept_fields(fields: dict, data_config, side: str) -> dict:
  """The side's feature fields the config keeps: all (None), or exactly
  those data.user_fields / data.item_fields name; an unknown name is an
  error."""
  keep = data_config.get(f"{side}_fields")
  if keep is None:
    return fields
  unknown = sorted(set(keep) - set(fields))
  if unknown:
    raise ConfigError(f"--config.data.{side}_fields: {unknown} not among "
                      f"this dataset's {side} fields {sorted(fields)}")
  return {k: v for k, v in fields.items() if k in keep}


def prepare(data_config, seed: int) -> Prepared:
  t0 = time.time()
  axis = task_axis(data_config)
  raw, split = split_for(load_raw(data_config, seed), data_config, seed, axis)
  users = features.Vocab.build(np.concatenate(
      [split.existing_users, split.new_users]), raw.user_codec)
  items = features.Vocab.build(np.concatenate(
      [split.existing_items, split.new_items]), raw.item_codec)
  logging.info("%s: %d users, %d items; split in %.1fs", raw.name,
               len(users), len(items), time.time() - t0)
  user_tables = features.build_tables(
      kept_fields(raw.user_fields, data_config, "user"), users)
  item_tables = features.build_tables(
      kept_fields(raw.item_fields, data_config, "item"), items,
                                      data_config.max_values_per_field)
  item_id = np.zeros(len(items), np.int32)
  item_id[items.index(split.existing_items)] = np.arange(
      1, len(split.existing_items) + 1, dtype=np.int32)
  tables = {"user": {k: t.values for k, t in user_tables.items()},
            "item": {k: t.values for k, t in item_tables.items()},
            "item_id": item_id}
  item_text.add_text_tables(tables, raw.item_text, items.ids, data_config)
  floor_stats = stats.FloorStats(split.train_pool, items.index, len(items))
  tables["item_mean"] = np.asarray(floor_stats.item_mean, np.float32)
  tables["item_count"] = np.asarray(floor_stats.item_count, np.float32)
  tables["global_mean"] = np.float32(floor_stats.global_mean)

  fp = fingerprint(data_config, seed)
  tasks = None
  if data_config.use_tfds:
    data_dir = data_config.get("tfds_dir") or str(assets.cache_dir() / "tfds")
    if not tfds_builder.exists(data_dir, fp):
      tfds_builder.write_task_sets(
          build_tasks(split, users, items, seed, data_config.k_shot, axis),
          data_dir, fp)
    tasks = tfds_builder.read_task_sets(data_dir, fp)
  else:
    tasks = build_tasks(split, users, items, seed, data_config.k_shot, axis)
  for name in tasks:
    t = tasks[name]
    logging.info("  %-15s %5d tasks, %7d ratings", name, len(t), t.n_ratings)
  logging.info("Data ready in %.1fs", time.time() - t0)
  train = split.train_pool
  return Prepared(
      name=raw.name, split=split, users=users, items=items, tables=tables,
      user_fields=tuple((k, t.vocab_size) for k, t in user_tables.items()),
      item_fields=tuple((k, t.vocab_size) for k, t in item_tables.items()),
      num_item_ids=len(split.existing_items),
      tasks={k: tasks[k] for k in FIT_SPLITS},
      scenario_tasks={k: tasks[k] for k in tasks if k not in FIT_SPLITS},
      floor_stats=floor_stats,
      rating_range=(float(train.rating.min()), float(train.rating.max())),
      task_axis=axis, left_out=left_out(split, axis, data_config.k_shot),
      field_values={"user": {k: t.names for k, t in user_tables.items()},
                    "item": {k: t.names for k, t in item_tables.items()}})
