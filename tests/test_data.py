"""Known counts, a split with no leakage, and the protocol's filters."""

import numpy as np
import pytest

from conftest import ML1M_DIR, needs_ml1m
from configs import melu
from metarec_jax.core.errors import DataError
from metarec_jax.data import features, pipeline, scenarios, sources
from metarec_jax.data.scenarios import MAX_RATINGS, MIN_RATINGS, QUERY_SIZE


def test_ml100k_from_the_wheel_has_the_known_counts(ml100k_raw):
  r = ml100k_raw.ratings
  assert len(r) == 100_000
  assert len(np.unique(r.user)) == 943 and len(np.unique(r.item)) == 1682
  split = scenarios.make_split(ml100k_raw, seed=0)
  # docs/protocol.md: 1997-1998 items are new: 288 items, 16,235 ratings.
  assert len(split.new_items) == 288
  assert np.isin(r.item, split.new_items).sum() == 16_235


def _assert_no_leakage(prep):
  s = prep.split
  train, val = prep.tasks["train"], prep.tasks["validation"]
  uid = lambda t: prep.users.ids[t.users]
  train_users = set(uid(train))
  assert not train_users & set(s.new_users)
  assert not train_users & set(s.validation_users)
  assert set(uid(val)) <= set(s.validation_users)
  new_items = set(s.new_items)
  for t in (train, val):
    for items in t.support_items + list(t.query_items):
      assert not set(prep.items.ids[items]) & new_items
  for name in scenarios.SCENARIOS:
    tasks = prep.test_tasks(name)
    users = set(uid(tasks))
    cold_users = name in ("user_cold", "user_item_cold")
    assert users <= set(s.new_users if cold_users else s.existing_users)
    cold_items = name in ("item_cold", "user_item_cold")
    allowed = set(s.new_items if cold_items else s.existing_items)
    for sup, q in zip(tasks.support_items, tasks.query_items):
      assert len(q) == QUERY_SIZE
      assert not set(sup) & set(q)  # Support and query are disjoint.
      assert MIN_RATINGS <= len(sup) + len(q) <= MAX_RATINGS
      assert set(prep.items.ids[sup]) | set(prep.items.ids[q]) <= allowed


def test_ml100k_split_has_no_leakage(ml100k_prep):
  _assert_no_leakage(ml100k_prep)
  s = ml100k_prep.split
  # The warm hold-out never appears in the meta-training pool.
  pool = set(zip(s.pool.user.tolist(), s.pool.item.tolist()))
  warm = set(zip(s.scenarios["warm"].user.tolist(),
                 s.scenarios["warm"].item.tolist()))
  assert warm and not pool & warm


def test_split_depends_on_seed_only(ml100k_raw):
  a = scenarios.make_split(ml100k_raw, seed=3)
  b = scenarios.make_split(ml100k_raw, seed=3)
  c = scenarios.make_split(ml100k_raw, seed=4)
  np.testing.assert_array_equal(a.new_users, b.new_users)
  np.testing.assert_array_equal(a.validation_users, b.validation_users)
  assert not np.array_equal(a.new_users, c.new_users)


def test_k_shot_fixes_the_support_size(ml100k_raw):
  split = scenarios.make_split(ml100k_raw, seed=0)
  users = features.Vocab.build(np.concatenate([split.existing_users,
                                               split.new_users]))
  items = features.Vocab.build(np.concatenate([split.existing_items,
                                               split.new_items]))
  full = scenarios.make_tasks(split.scenarios["user_cold"], users.index,
                              items.index, 0, 3)
  k5 = scenarios.make_tasks(split.scenarios["user_cold"], users.index,
                            items.index, 0, 3, k_shot=5)
  assert set(k5.support_sizes) == {5}
  assert len(k5) == (full.support_sizes >= 5).sum()  # Needs K + 10 ratings.
  k40 = scenarios.make_tasks(split.scenarios["user_cold"], users.index,
                             items.index, 0, 3, k_shot=40)
  assert set(k40.support_sizes) == {40} and len(k40) < len(full)


def test_taskset_k_shot_equals_making_the_tasks_with_k_shot(ml100k_raw):
  """Validation's k-shot cut (TaskSet.k_shot) gives exactly the tasks
  make_tasks(k_shot=K) draws: same users, queries and first K supports."""
  split = scenarios.make_split(ml100k_raw, seed=0)
  users = features.Vocab.build(np.concatenate([split.existing_users,
                                               split.new_users]))
  items = features.Vocab.build(np.concatenate([split.existing_items,
                                               split.new_items]))
  pool = split.validation_pool
  full = scenarios.make_tasks(pool, users.index, items.index, 0, 1)
  for k in (3, 40):
    want = scenarios.make_tasks(pool, users.index, items.index, 0, 1,
                                k_shot=k)
    got = full.k_shot(k)
    assert got.equals(want) and 0 < len(got) <= len(full)
  assert len(full.k_shot(40)) < len(full)


def test_with_k_shot_equals_preparing_with_k_shot(ml100k_prep):
  """The curve rebuilds only the scenarios; the tasks must be the ones a
  fresh prepare(k_shot=K) gives."""
  data = melu.get_config("ml100k,smoke").data
  data.use_tfds, data.k_shot = False, 5
  fresh = pipeline.prepare(data, seed=0)
  fast = pipeline.with_k_shot(ml100k_prep, 0, 5)
  split = lambda p, name: (p.tasks[name] if name in p.tasks
                           else p.test_tasks(name))
  for name in ("train", "validation") + scenarios.SCENARIOS:
    a, b = split(fresh, name), split(fast, name)
    assert len(a) == len(b) > 0
    for f in ("users", "query_items", "query_ratings"):
      np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    for x, y in zip(a.support_items, b.support_items):
      np.testing.assert_array_equal(x, y)
  assert set(fast.test_tasks("warm").support_sizes) == {5}
  assert ml100k_prep.test_tasks("warm").support_sizes.max() > 5  # Unchanged.


def test_bad_ratings_name_file_and_line(tmp_path):
  folder = tmp_path / "ml-100k"
  folder.mkdir()
  (folder / "u.data").write_text("1\t2\t3\t0\n1\t3\tfive\t0\n")
  (folder / "u.user").write_text("1|24|M|technician|85711\n")
  (folder / "u.item").write_text("")
  with pytest.raises(DataError, match=r"u.data:2: rating 'five'"):
    sources.load_ml100k(str(folder))


@needs_ml1m
def test_ml1m_public_split_counts_and_no_leakage():
  raw = sources.load_ml1m(ML1M_DIR)
  counts = {k: len(v) for k, v in raw.fixed_split.items()}
  assert counts == {"pool": 585_366, "warm": 65_040, "user_cold": 153_744,
                    "item_cold": 153_696, "user_item_cold": 42_363}
  config = melu.get_config("ml1m,smoke")
  config.data.path = ML1M_DIR
  config.data.use_tfds = False
  prep = pipeline.prepare(config.data, seed=0)
  assert len(prep.split.existing_users) == 4832
  assert len(prep.split.new_users) == 1208
  assert len(prep.split.validation_users) == 483
  _assert_no_leakage(prep)
