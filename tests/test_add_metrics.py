"""scripts/add_metrics.py's upgrade of finished runs: precision/recall
recomputable from the predictions CSVs, an upgraded run equal to a fresh
one, and a CSV of other data refused."""

import json
import shutil

import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.data import scenarios
from metarec_jax.evaluation import floors, metrics, ranking
from metarec_jax.experiments import add_metrics
from metarec_jax.train import experiment
import csv_checks
from tiny_run import tiny_config, write_dataset

NEW = metrics.PR_KEYS + ranking.KEYS + ("n_tasks_no_relevant",)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A finished tiny run (its results.json as written by evaluation)."""
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder, num_steps=2, every=2)
  config.method, config.inner_steps, config.model.hidden = "melu_fo", 1, (8,)
  workdir = tmp_path_factory.mktemp("run")
  experiment.train_and_evaluate(config, str(workdir))
  return workdir


def test_precision_recall_recompute_from_the_csvs(run):
  saved = json.loads((run / "results.json").read_text())
  threshold = saved["config"]["data"]["relevance_threshold"]
  assert saved["relevance_threshold"] == threshold
  scored = [s for s in scenarios.SCENARIOS
            if saved["scenarios"][s]["n_tasks"]]
  assert scored
  for s in scored:
    for k in metrics.PR_KS:
      p, r = csv_checks.precision_recall(run / f"predictions_{s}.csv",
                                         threshold, k)
      assert saved["scenarios"][s][f"precision@{k}"] == pytest.approx(
          p, abs=1e-6)
      assert saved["scenarios"][s][f"recall@{k}"] == pytest.approx(
          r, abs=1e-6)
    for key in ranking.KEYS:
      assert 0 <= saved["scenarios"][s][key] <= 1
  # Its seconds are in timing.json: results.json is the same bytes on rerun.
  assert "catalogue_s" not in saved
  timing = json.loads((run / "timing.json").read_text())
  assert timing["catalogue_s"]["total"] >= 0


def _strip(results: dict) -> dict:
  """results.json as a run made before the new metrics left it."""
  out = json.loads(json.dumps(results))
  for cells in [out["scenarios"]] + list(out["floors"].values()):
    for m in cells.values():
      for key in NEW:
        m.pop(key)
  out.pop("relevance_threshold")
  out.pop("catalogue_s", None)  # main.py's runs keep it in timing.json.
  del out["config"]["data"]["relevance_threshold"]  # Older configs.
  return out


def test_an_upgraded_run_equals_a_fresh_one(run, tmp_path):
  old = tmp_path / "runs" / "melu_fo" / "seed0"
  shutil.copytree(run, old)
  fresh = json.loads((run / "results.json").read_text())
  (old / "results.json").write_text(json.dumps(_strip(fresh)))
  done = add_metrics.upgrade(tmp_path)
  assert [d["run"] for d in done] == [str(old)]
  up = json.loads((old / "results.json").read_text())
  for key in ("scenarios", "floors", "relevance_threshold"):
    # json.dumps: NaN (the tiny data's empty scenarios) equals NaN.
    assert json.dumps(up[key], sort_keys=True) == json.dumps(
        fresh[key], sort_keys=True), key
  assert set(up["floors"]) == set(floors.FLOORS)
  # A second pass leaves catalogue ranking as it is.
  assert add_metrics.upgrade(tmp_path)[0]["catalogue_s"] is None


def test_a_csv_of_another_run_is_refused(run, tmp_path):
  shutil.copytree(run, tmp_path / "r")
  path = tmp_path / "r" / "predictions_user_cold.csv"
  lines = path.read_text().splitlines()
  user, item, rating, pred = lines[1].split(",")
  lines[1] = ",".join([user, item, rating, f"{float(pred) + 0.5:.6f}"])
  path.write_text("\n".join(lines) + "\n")
  with pytest.raises(DataError, match="mae recomputes to"):
    add_metrics.upgrade(tmp_path / "r", catalogue=False)
