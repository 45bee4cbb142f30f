"""scripts/plot.py's reader and PNGs, on event files written here."""

import json
import os
import time

import pytest

from metarec_jax.core import writers
from metarec_jax.experiments import plots


def _log(logdir, points):
  w = writers.MetricWriter(logdir)
  for step, scalars in points:
    w.write_scalars(step, scalars)
  w.close()


def test_reads_events_and_a_resumed_run_wins(tmp_path):
  tb = str(tmp_path / "tensorboard")
  _log(tb, [(10, {"train/loss": 2.0}), (20, {"train/loss": 1.5,
                                             "validation/mae": 0.9})])
  time.sleep(1.1)  # A second event file, as after a resume (newer mtime).
  _log(tb, [(20, {"train/loss": 1.25}), (30, {"train/loss": 1.0})])
  assert len(os.listdir(tb)) == 2
  s = plots.read_scalars(tb)
  assert s["train/loss"] == [(10, 2.0), (20, 1.25), (30, 1.0)]
  assert s["validation/mae"] == [(20, pytest.approx(0.9))]


def test_writes_pngs_with_results_json_fallback(tmp_path):
  (tmp_path / "results.json").write_text(json.dumps(
      {"selection": {"best_step": 20, "history": [[10, 0.8], [20, 0.75]]}}))
  (tmp_path / "curve.json").write_text(json.dumps(
      {"ks": [1, 3, 5], "methods": {"melu": {"user_cold": {
          "mae": [0.9, 0.85, 0.8]}}}, "floors": {"user_mean": {
              "user_cold": {"mae": [1.0, 0.9, 0.88]}}}}))
  paths = plots.plot_run(str(tmp_path))
  assert [os.path.basename(p) for p in paths] == ["training.png",
                                                  "adaptation_curve.png"]
  for p in paths:
    with open(p, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]
  with pytest.raises(FileNotFoundError, match="no TensorBoard events"):
    plots.plot_run(str(tmp_path / "empty"))
