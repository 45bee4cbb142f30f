"""The table and sweep scripts end to end, on ML-100K with two seeds: files
recomputable from the runs' files, every run servable, a rerun resumes."""

import csv
import json
import time

import numpy as np
import pytest

from configs.tables import coldstart as table_config
from metarec_jax.data import scenarios
from metarec_jax.evaluation import metrics
from metarec_jax.experiments import coldstart, sweep
from metarec_jax.serving import recommender
import csv_checks


def _tiny(methods=("global", "melu_fo")):
  c = table_config.get_config("ml100k,smoke")
  c.methods, c.seeds = methods, (0, 1)
  c.num_steps, c.eval_every, c.inner_steps = 2, 2, 1
  c.ensemble_size, c.curve_ks = 2, (1,)
  # Catalogue ranking was over half of this file's time; test_catalogue.py
  # and test_tables.py check it, here the table's own files are the point.
  c.catalogue = False
  return c


def _mae_from_csv(path) -> float:
  with open(path) as f:
    rows = list(csv.DictReader(f))
  y = np.array([float(r["rating"]) for r in rows])
  p = np.array([float(r["prediction"]) for r in rows])
  return float(np.mean(np.abs(y - p)))


def test_table_files_are_recomputable_from_the_run_files(tmp_path):
  coldstart.reproduce(_tiny(), str(tmp_path))
  table = json.loads((tmp_path / "table.json").read_text())
  assert set(table["methods"]) == {"global", "melu_fo", "ensemble"}
  assert set(table["validation_mae"]) == {"global", "melu_fo"}
  for name in ("global", "melu_fo", "ensemble"):
    for s in scenarios.SCENARIOS:
      cell = table["methods"][name][s]["mae"]
      per_seed = []
      for seed in (0, 1):
        run = tmp_path / "runs" / name / f"seed{seed}"
        res = json.loads((run / "results.json").read_text())
        per_seed.append(res["scenarios"][s]["mae"])
        # results.json is computed from the numbers the CSV holds.
        np.testing.assert_allclose(
            _mae_from_csv(run / f"predictions_{s}.csv"), per_seed[-1],
            atol=2e-6)
        # So are the ranking metrics under both tie rules, and corr
        # (relevant: rating >= the threshold).
        res_s = res["scenarios"][s]
        for k in metrics.PR_KS:
          want = csv_checks.recompute(
              run / f"predictions_{s}.csv", res["relevance_threshold"], k)
          for key, value in want.items():
            assert abs(res_s[key] - value) < 1e-6, (name, s, key)
      np.testing.assert_allclose(cell["seeds"], per_seed, atol=1e-6)
      np.testing.assert_allclose(cell["mean"], np.mean(per_seed), atol=1e-6)
  # Floors are the same for every method: computed once per seed and split.
  floor = table["floors"]["item_mean_user_bias"]["warm"]["mae"]
  assert len(floor["seeds"]) == 2 and floor["std"] >= 0
  md = (tmp_path / "table.md").read_text()
  assert "Selected:" in md and "_item_mean_user_bias_ (floor)" in md
  curve = json.loads((tmp_path / "curve.json").read_text())
  assert curve["ks"] == [1] and set(curve["methods"]) == {"global", "melu_fo"}
  assert (tmp_path / "curve.png").stat().st_size > 1000
  # Every row serves from its run folder, the ensemble as its members' mean:
  # a test user's query items score as in the row's predictions file.
  for name in ("melu_fo", "ensemble"):
    run = tmp_path / "runs" / name / "seed1"
    rec = recommender.Recommender.load(str(run))
    tasks = rec.prep.test_tasks("user_cold")
    state = rec.adapt([(int(rec.prep.items.ids[i]), float(r)) for i, r in
                       zip(tasks.support_items[0], tasks.support_ratings[0])],
                      user=int(rec.prep.users.ids[tasks.users[0]]))
    with open(run / "predictions_user_cold.csv") as f:
      first = list(csv.DictReader(f))[:tasks.query_items.shape[1]]
    for row in first:
      i = rec.item_index([int(row["item_id"])])[0]
      served = np.clip(state.scores[i], *rec.rating_range)
      assert abs(served - float(row["prediction"])) < 1e-5
  # A rerun reads the finished rows back: the same table, nothing retrained.
  before = (tmp_path / "table.json").read_bytes()
  first = json.loads((tmp_path / "timing.json").read_text())
  (tmp_path / "table.json").unlink()
  coldstart.reproduce(_tiny(), str(tmp_path))
  assert (tmp_path / "table.json").read_bytes() == before
  # The read-back rows keep the timing of the process that trained them,
  # and the total counts both processes.
  timing = json.loads((tmp_path / "timing.json").read_text())
  assert timing["global"] == {**first["global"], "read_back": True}
  assert timing["processes"] == 2 and timing["wall_s"] > first["wall_s"]


def test_sweep_selects_the_lowest_validation_mae(tmp_path):
  c = _tiny(methods=("finetune",))
  c.sweep.inner_lr, c.sweep.outer_lr = (0.0, 0.3), (1e-3,)
  c.sweep.weight_decay, c.sweep.inner_steps = (0.0,), (1,)
  out = sweep.run_sweep(c, "finetune", str(tmp_path))
  maes = [r["validation_mae"] for r in out["configs"]]
  assert len(maes) == 2 and maes[0] != maes[1]
  assert out["best"]["validation_mae"] == min(maes)
  assert out["override"]["inner_lr"] == out["best"]["inner_lr"]
  saved = json.loads((tmp_path / "sweep.json").read_text())
  assert saved["best"] == json.loads(json.dumps(out["best"]))
  # The step count each configuration trained for is on record.
  assert saved["num_steps"] == 2
  assert max(s for r in out["configs"] for s in r["best_steps"]) <= 2


def test_sweep_gives_metasgd_each_initial_rate(tmp_path):
  # Meta-SGD's rates are parameters initialised from inner_lr (not the
  # traced hparam), so each configuration must build its own init.
  c = _tiny(methods=("metasgd",))
  c.sweep.inner_lr, c.sweep.outer_lr = (0.0, 0.3), (1e-3,)
  c.sweep.weight_decay, c.sweep.inner_steps = (0.0,), (1,)
  out = sweep.run_sweep(c, "metasgd", str(tmp_path))
  maes = {r["inner_lr"]: r["validation_mae"] for r in out["configs"]}
  assert maes[0.0] != maes[0.3]


def test_sweep_records_a_diverged_configuration_and_skips_it(tmp_path):
  c = _tiny(methods=("melu_fo",))
  c.sweep.inner_lr, c.sweep.outer_lr = (0.05, 1e30), (1e-3,)
  c.sweep.weight_decay, c.sweep.inner_steps = (0.0,), (1,)
  out = sweep.run_sweep(c, "melu_fo", str(tmp_path))
  rows = {r["inner_lr"]: r for r in out["configs"]}
  assert rows[1e30]["validation_mae"] is None
  assert rows[1e30]["diverged_at"] == [2]
  assert rows[0.05]["diverged_at"] == [None]
  assert out["best"]["inner_lr"] == 0.05


def test_a_row_stopped_mid_training_keeps_its_time(tmp_path, monkeypatch):
  """A process stopped after a checkpoint (sessions end) writes no timing;
  the process that resumes the row reports the stopped one's training
  seconds up to that checkpoint and adds them to the table's wall_s."""
  from metarec_jax.train import engine
  c = _tiny(methods=("global",))
  c.seeds, c.num_steps, c.eval_every, c.checkpoint_every = (0,), 4, 2, 2
  c.curve_ks = ()
  boundary = engine._boundary

  def stop_after_first_checkpoint(group, *args, **kwargs):
    boundary(group, *args, **kwargs)
    if group.done == 2:
      raise KeyboardInterrupt("stopped")

  monkeypatch.setattr(engine, "_boundary", stop_after_first_checkpoint)
  t0 = time.time()
  with pytest.raises(KeyboardInterrupt):
    coldstart.reproduce(c, str(tmp_path))
  stopped_s = time.time() - t0
  assert not (tmp_path / "timing.json").exists()
  monkeypatch.setattr(engine, "_boundary", boundary)
  coldstart.reproduce(c, str(tmp_path))
  timing = json.loads((tmp_path / "timing.json").read_text())
  row = timing["global"]
  [train] = row["train"]
  assert train["resumed_at"] == 2 and train["steps_run"] == 2
  assert 0 < row["earlier_processes_s"] == train["earlier_processes_s"]
  assert row["earlier_processes_s"] < stopped_s
  assert timing["wall_s"] >= row["wall_s"] + row["earlier_processes_s"]
