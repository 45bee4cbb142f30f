"""Round trips of TaskSets through the TFDS array_record builder."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from metarec_jax.data import tfds_builder
from metarec_jax.data.tasks import TaskSet

Q = 4
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _random_task_set(rng, n_tasks, support_sizes=None) -> TaskSet:
  if support_sizes is None:
    support_sizes = rng.integers(1, 30, n_tasks)
  return TaskSet(
      users=rng.permutation(1000)[:n_tasks].astype(np.int32),
      support_items=[rng.integers(0, 500, s).astype(np.int32)
                     for s in support_sizes],
      support_ratings=[rng.uniform(1, 5, s).astype(np.float32)
                       for s in support_sizes],
      query_items=rng.integers(0, 500, (n_tasks, Q)).astype(np.int32),
      query_ratings=rng.uniform(1, 5, (n_tasks, Q)).astype(np.float32))


def _task_sets(seed=0) -> dict:
  rng = np.random.default_rng(seed)
  return {
      "train": _random_task_set(rng, 17),
      "validation": _random_task_set(rng, 3, support_sizes=[1, 5, 1]),
      # Empty splits exist for small data configs (e.g. no cold items).
      "item_cold": _random_task_set(rng, 0),
      "warm": _random_task_set(rng, 5),
  }


def _assert_same(written: dict, read: dict):
  assert list(read) == list(written)
  for name, ts in written.items():
    got = read[name]
    assert got.equals(ts), name
    assert got.users.dtype == np.int32
    assert got.query_items.dtype == np.int32 and got.query_items.shape == (
        ts.query_items.shape)
    assert got.query_ratings.dtype == np.float32
    assert got.query_ratings.shape == ts.query_ratings.shape
    assert all(a.dtype == np.int32 for a in got.support_items)
    assert all(r.dtype == np.float32 for r in got.support_ratings)


def test_round_trip_is_exact(tmp_path):
  task_sets = _task_sets()
  assert not tfds_builder.exists(str(tmp_path), "abc123")
  tfds_builder.write_task_sets(task_sets, str(tmp_path), "abc123")
  assert tfds_builder.exists(str(tmp_path), "abc123")
  read = tfds_builder.read_task_sets(str(tmp_path), "abc123")
  _assert_same(task_sets, read)
  assert read["validation"].support_sizes.tolist() == [1, 5, 1]
  assert len(read["item_cold"]) == 0


def test_all_splits_empty(tmp_path):
  rng = np.random.default_rng(0)
  task_sets = {"train": _random_task_set(rng, 0)}
  tfds_builder.write_task_sets(task_sets, str(tmp_path), "empty")
  _assert_same(task_sets, tfds_builder.read_task_sets(str(tmp_path), "empty"))


def test_fingerprints_are_separate_and_rewrites_are_noops(tmp_path):
  data_dir = str(tmp_path)
  first, second = _task_sets(seed=0), _task_sets(seed=1)
  tfds_builder.write_task_sets(first, data_dir, "fp_a")
  tfds_builder.write_task_sets(second, data_dir, "fp_b")
  _assert_same(first, tfds_builder.read_task_sets(data_dir, "fp_a"))
  _assert_same(second, tfds_builder.read_task_sets(data_dir, "fp_b"))

  info = os.path.join(data_dir, "metarec_tasks", "fp_a", "1.0.0",
                      "dataset_info.json")
  mtime = os.stat(info).st_mtime_ns
  # Same fingerprint, other data: must not be written (it would be a bug in
  # the caller's fingerprint, but proves the no-op).
  tfds_builder.write_task_sets(second, data_dir, "fp_a")
  assert os.stat(info).st_mtime_ns == mtime
  _assert_same(first, tfds_builder.read_task_sets(data_dir, "fp_a"))


def test_interrupted_write_is_not_finished(tmp_path):
  data_dir = str(tmp_path)
  task_sets = _task_sets()
  # A generator failing mid-split stands in for a crash.
  broken = dict(task_sets, broken=TaskSet(
      users=np.arange(2, dtype=np.int32), support_items=[np.zeros(1)],
      support_ratings=[np.zeros(1)], query_items=np.zeros((2, Q), np.int32),
      query_ratings=np.zeros((2, Q), np.float32)))
  with pytest.raises(IndexError):
    tfds_builder.write_task_sets(broken, data_dir, "fp")
  assert not tfds_builder.exists(data_dir, "fp")
  with pytest.raises(FileNotFoundError):
    tfds_builder.read_task_sets(data_dir, "fp")
  # What a killed process leaves behind must not count as finished either.
  leftover = tmp_path / "metarec_tasks" / "fp" / "incomplete.ABC123_1.0.0"
  leftover.mkdir(parents=True)
  (leftover / "dataset_info.json").write_text("{}")
  (leftover / "features.json").write_text("{}")
  assert not tfds_builder.exists(data_dir, "fp")
  tfds_builder.write_task_sets(task_sets, data_dir, "fp")
  _assert_same(task_sets, tfds_builder.read_task_sets(data_dir, "fp"))


def test_bad_fingerprint_is_rejected(tmp_path):
  with pytest.raises(ValueError):
    tfds_builder.write_task_sets(_task_sets(), str(tmp_path), "a/b:1")


def test_does_not_import_tensorflow(tmp_path):
  # A decoy tensorflow package records any import attempt, so the check also
  # holds where the real one is installed (tfds would then happily use it).
  decoy = tmp_path / "decoy" / "tensorflow"
  decoy.mkdir(parents=True)
  marker = tmp_path / "tf_imported"
  (decoy / "__init__.py").write_text(
      f"open({str(marker)!r}, 'w').close()\n"
      "raise ImportError('decoy tensorflow')\n")
  script = textwrap.dedent(f"""
      import sys
      import numpy as np
      from metarec_jax.data import tfds_builder
      from metarec_jax.data.tasks import TaskSet
      ts = TaskSet(np.arange(2, dtype=np.int32),
                   [np.ones(3, np.int32), np.ones(1, np.int32)],
                   [np.ones(3, np.float32), np.ones(1, np.float32)],
                   np.zeros((2, 2), np.int32), np.zeros((2, 2), np.float32))
      data_dir = {str(tmp_path)!r}
      tfds_builder.write_task_sets({{"train": ts}}, data_dir, "x")
      assert tfds_builder.read_task_sets(data_dir, "x")["train"].equals(ts)
      assert "tensorflow" not in sys.modules, "tensorflow was imported"
  """)
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(
      [str(tmp_path / "decoy"), _REPO_ROOT, env.get("PYTHONPATH", "")])
  result = subprocess.run([sys.executable, "-c", script], env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert not marker.exists(), "something tried to import tensorflow"
