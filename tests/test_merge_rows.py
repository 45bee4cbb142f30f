"""scripts/merge_rows.py: rows trained in a second workdir move into a table.

The move is all or nothing: every refusal leaves both workdirs as they were.
"""

import fcntl
import json
import os

import pytest

from metarec_jax.core.errors import WorkdirError
from metarec_jax.experiments import merge_rows


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def _table(workdir, rows, timing, seeds=(0, 1), base="b", finished=True):
  _write(os.path.join(workdir, "residual_base.json"), {"base": base})
  for row in rows:
    for s in seeds:
      folder = os.path.join(workdir, "runs", row, f"seed{s}")
      _write(os.path.join(folder, "split.json"), {"seed": s})
      if finished:
        _write(os.path.join(folder, "results.json"), {"row": row, "seed": s})
  _write(os.path.join(workdir, "timing.json"), timing)


def _snapshot(*workdirs):
  """Every file's relative path and bytes."""
  out = {}
  for w in workdirs:
    for root, _, files in os.walk(w):
      for name in files:
        if name != ".lock":
          path = os.path.join(root, name)
          with open(path, "rb") as f:
            out[path] = f.read()
  return out


@pytest.fixture
def pair(tmp_path):
  target, source = str(tmp_path / "table"), str(tmp_path / "side")
  _table(target, ["global"], {"global": {"wall_s": 80.0}, "wall_s": 100.0,
                              "processes": 2})
  _table(source, ["ridge_a", "ridge_b"],
         {"ridge_a": {"wall_s": 30.0}, "wall_s": 50.5, "processes": 1})
  return source, target


def test_moves_the_finished_rows_and_adds_the_timing(pair):
  source, target = pair
  # A row still training (seed 1 unfinished) stays to resume in source.
  _table(source, ["ridge_c"], {"wall_s": 50.5, "processes": 1,
                               "ridge_a": {"wall_s": 30.0}})
  os.remove(os.path.join(source, "runs", "ridge_c", "seed1", "results.json"))
  results = {r: open(os.path.join(source, "runs", r, "seed1",
                                  "results.json")).read()
             for r in ("ridge_a", "ridge_b")}
  rows, timing = merge_rows.merge(source, target)
  assert rows == ["ridge_a", "ridge_b"]
  assert sorted(os.listdir(os.path.join(target, "runs"))) == [
      "global", "ridge_a", "ridge_b"]
  assert os.listdir(os.path.join(source, "runs")) == ["ridge_c"]
  for r, text in results.items():
    assert open(os.path.join(target, "runs", r, "seed1",
                             "results.json")).read() == text
  with open(os.path.join(target, "timing.json")) as f:
    written = json.load(f)
  assert written == timing
  assert timing["wall_s"] == 150.5 and timing["processes"] == 3
  assert timing["ridge_a"] == {"wall_s": 30.0, "merged_from": source}
  assert timing["global"] == {"wall_s": 80.0}
  # Source's time was counted once: its next process starts from zero.
  assert not os.path.exists(os.path.join(source, "timing.json"))
  with pytest.raises(WorkdirError, match="no finished rows to move"):
    merge_rows.merge(source, target)
  # ridge_c finishes in a later process; its merge adds only that one.
  _write(os.path.join(source, "runs", "ridge_c", "seed1", "results.json"),
         {})
  _write(os.path.join(source, "timing.json"), {"wall_s": 9.5,
                                               "processes": 1})
  rows, timing = merge_rows.merge(source, target)
  assert rows == ["ridge_c"]
  assert timing["wall_s"] == 160.0 and timing["processes"] == 4


def _other_split(source, target):
  _write(os.path.join(source, "runs", "ridge_a", "seed0", "split.json"),
         {"seed": 7})
  return "same split for seed 0"


def _other_base(source, target):
  _write(os.path.join(source, "residual_base.json"), {"base": "other"})
  return "same residual bases"


def _other_base_choice(source, target):
  # A chosen prior differs, even by less than the MAEs' tolerance.
  _write(os.path.join(source, "residual_base.json"),
         {"0": {"chosen": {"bias_prior": 3.0}, "validation_mae": 0.865973}})
  _write(os.path.join(target, "residual_base.json"),
         {"0": {"chosen": {"bias_prior": 3.000001},
                "validation_mae": 0.865973}})
  return "same residual bases"


def _base_mae_apart(source, target):
  _write(os.path.join(source, "residual_base.json"),
         {"0": {"chosen": {"bias_prior": 3.0}, "validation_mae": 0.8659}})
  _write(os.path.join(target, "residual_base.json"),
         {"0": {"chosen": {"bias_prior": 3.0}, "validation_mae": 0.8660}})
  return "same residual bases"


def _row_in_target(source, target):
  _table(target, ["ridge_b"], {"wall_s": 100.0, "processes": 2})
  return "runs/ridge_b: exists"


def _seed_missing_in_target(source, target):
  _table(source, ["ridge_c"], {"wall_s": 50.5}, seeds=(0, 1, 2))
  return "seed2/split.json: not found"


@pytest.mark.parametrize("spoil", [_other_split, _other_base,
                                   _other_base_choice, _base_mae_apart,
                                   _row_in_target,
                                   _seed_missing_in_target])
def test_refuses_and_moves_nothing(pair, spoil):
  source, target = pair
  message = spoil(source, target)
  before = _snapshot(source, target)
  with pytest.raises(WorkdirError, match=message):
    merge_rows.merge(source, target)
  assert _snapshot(source, target) == before


def test_refuses_a_target_in_use(pair):
  source, target = pair
  before = _snapshot(source, target)
  fd = os.open(os.path.join(target, ".lock"), os.O_RDWR | os.O_CREAT)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(WorkdirError, match="another run is using"):
      merge_rows.merge(source, target)
  finally:
    os.close(fd)
  assert _snapshot(source, target) == before


def test_residual_bases_a_rounding_apart_still_merge(pair):
  # Two processes computed one validation MAE of the base grid 1e-6 apart
  # (seen on ML-100K); the bases chosen are the same.
  source, target = pair
  for workdir, mae in ((source, 0.865972), (target, 0.865973)):
    _write(os.path.join(workdir, "residual_base.json"),
           {"0": {"chosen": {"bias_prior": 10.0},
                  "points": [{"point": {"bias_prior": 10.0},
                              "validation_mae": mae}]}})
  rows, _ = merge_rows.merge(source, target)
  assert rows == ["ridge_a", "ridge_b"]
  assert os.path.isdir(os.path.join(target, "runs", "ridge_a"))
