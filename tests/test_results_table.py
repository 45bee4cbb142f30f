"""Separate runs' results.json files -> mean ± std rows (known answers)."""

import json

import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.experiments import results_table, tables


def write_run(root, row, seed, mae, floor_mae=1.0):
  metrics = {"mae": mae, "rmse": mae + 0.2, "ndcg@1": 0.5, "ndcg@3": 0.6,
             "ndcg@5": 0.7, "n_tasks": 3}
  floor = {"mae": floor_mae, "rmse": 1.3, "ndcg@1": 0.1, "ndcg@3": 0.2,
           "ndcg@5": 0.3, "n_tasks": 3}
  results = {"scenarios": {"item_cold": metrics},
             "floors": {f: {"item_cold": floor}
                        for f in ("global_mean", "item_mean", "user_mean",
                                  "item_mean_user_bias", "random")}}
  path = root / row / f"s{seed}"
  path.mkdir(parents=True)
  (path / "results.json").write_text(json.dumps(results))


def test_mean_and_sample_std_over_shared_seeds(tmp_path):
  write_run(tmp_path, "melu", 0, 0.8)
  write_run(tmp_path, "melu", 1, 0.9)
  write_run(tmp_path, "melu", 2, 1.5)  # Seed 2 is unfinished for melu_text.
  write_run(tmp_path, "melu_text", 0, 0.7)
  write_run(tmp_path, "melu_text", 1, 0.8)
  table = results_table.build(tmp_path)
  assert table["seeds"] == [0, 1]
  mae = table["methods"]["melu"]["item_cold"]["mae"]
  assert mae["mean"] == pytest.approx(0.85)
  assert mae["std"] == pytest.approx(0.0707107, abs=1e-6)  # ddof=1
  assert table["methods"]["melu_text"]["item_cold"]["mae"]["mean"] == (
      pytest.approx(0.75))
  assert list(results_table.build(tmp_path, ["melu"])["seeds"]) == [0, 1, 2]


def test_rows_on_different_tasks_are_refused(tmp_path):
  write_run(tmp_path, "melu", 0, 0.8, floor_mae=1.0)
  write_run(tmp_path, "melu_text", 0, 0.7, floor_mae=1.1)
  with pytest.raises(DataError, match="melu_text/s0/results.json"):
    results_table.build(tmp_path)


def write_table_run(root, row, seed, mae, floors=True):
  """A reproduce_table.py workdir's per-run file (runs/<row>/seed<s>); an
  ensemble's selection is its members' records."""
  write_run(root / "runs_tmp", row, seed, mae)
  src = root / "runs_tmp" / row / f"s{seed}" / "results.json"
  results = json.loads(src.read_text())
  results["selection"] = {"best_validation_mae": mae - 0.1}
  if row == "ensemble":
    results["selection"] = {"members": [results["selection"]] * 2}
  if not floors:
    del results["floors"]
  path = root / "runs" / row / f"seed{seed}"
  path.mkdir(parents=True)
  (path / "results.json").write_text(json.dumps(results))


def test_rows_of_a_table_workdir_and_a_second_root_are_joined(tmp_path):
  table_w, text_w = tmp_path / "table", tmp_path / "text"
  for s, (a, b) in enumerate([(0.8, 0.7), (1.0, 0.9)]):
    write_table_run(table_w, "finetune", s, a)
    write_table_run(table_w, "ensemble", s, a - 0.05, floors=False)
    write_table_run(text_w, "finetune_text", s, b)
  table = results_table.build([table_w, text_w])
  assert table["seeds"] == [0, 1]
  means = {r: table["methods"][r]["item_cold"]["mae"]["mean"]
           for r in ("finetune", "ensemble", "finetune_text")}
  assert means == pytest.approx({"finetune": 0.9, "ensemble": 0.85,
                                 "finetune_text": 0.8})
  # The ensemble has no validation MAE of its own: not in the selection.
  assert set(table["validation_mae"]) == {"finetune", "finetune_text"}
  with pytest.raises(DataError, match="also in"):
    results_table.build([table_w, table_w])


def test_replace_takes_the_later_roots_row_and_records_it(tmp_path):
  first, tuned = tmp_path / "first", tmp_path / "tuned"
  for s in (0, 1):
    write_table_run(first, "finetune", s, 0.9)
    write_table_run(first, "global", s, 0.95)
    write_table_run(tuned, "finetune", s, 0.8)
  table = results_table.build([first, tuned], replace=True)
  assert table["methods"]["finetune"]["item_cold"]["mae"]["mean"] == (
      pytest.approx(0.8))
  assert table["sources"] == {"finetune": str(tuned), "global": str(first)}


def test_validation_mae_is_reported_and_names_the_selected_row(tmp_path):
  for s, (a, b) in enumerate([(0.8, 0.7), (1.0, 0.9)]):
    write_table_run(tmp_path, "finetune", s, a)
    write_table_run(tmp_path, "melu", s, b)
  table = results_table.build(tmp_path)
  assert table["validation_mae"] == pytest.approx({"finetune": 0.8,
                                                   "melu": 0.7})
  md = tables.markdown(table)
  assert "Selected: **melu**" in md and "finetune 0.8000" in md
