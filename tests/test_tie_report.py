"""tie_report on a hand-made workdir: known nDCG values, bad input named."""

import csv
import json

import numpy as np
import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.data import scenarios
from metarec_jax.evaluation import metrics, predictions_csv
from metarec_jax.experiments import tie_report

RATINGS = np.array([[5.0, 1.0, 3.0, 2.0], [4.0, 4.0, 1.0, 2.0]])


def _write(path, ratings, preds):
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(predictions_csv.COLUMNS)
    for u, (ys, ps) in enumerate(zip(ratings, preds)):
      for i, (y, p) in enumerate(zip(ys, ps)):
        w.writerow([100 + u, 10 * u + i, y, p])


def _workdir(tmp_path):
  floor = {s: {"ndcg@3": {"mean": 0.5}} for s in scenarios.SCENARIOS}
  (tmp_path / "table.json").write_text(json.dumps(
      {"validation_mae": {"tied": 0.7, "exact": 0.9},
       "floors": {"random": floor}}))
  for seed in (0, 1):
    run = tmp_path / "runs"
    _write(run / "tied" / f"seed{seed}" / "predictions_item_cold.csv",
           RATINGS, np.full_like(RATINGS, 3.5))
    _write(run / "exact" / f"seed{seed}" / "predictions_item_cold.csv",
           RATINGS, RATINGS + 0.1 * np.arange(4))  # No ties, right order.
  return tmp_path


def test_report_known_values(tmp_path):
  rep = tie_report.report(_workdir(tmp_path), k=3)
  assert list(rep["rows"]) == ["tied", "exact"]  # Validation order.
  const = rep["rows"]["tied"]["item_cold"]
  assert const["random_ties"]["mean"] == pytest.approx(
      metrics.expected_random_ndcg(RATINGS, 3).mean(), abs=1e-6)
  assert const["pessimistic"]["mean"] == pytest.approx(
      metrics.ndcg_at_k(RATINGS, np.zeros_like(RATINGS), 3, "pessimistic"
                        ).mean(), abs=1e-6)
  assert const["pessimistic"]["mean"] < const["random_ties"]["mean"]
  assert const["tie_dependent"]["mean"] == 1.0
  exact = rep["rows"]["exact"]["item_cold"]
  assert exact["pessimistic"]["mean"] == pytest.approx(1.0)
  assert exact["random_ties"]["mean"] == pytest.approx(1.0)
  assert exact["tie_dependent"]["mean"] == 0.0
  assert set(rep["rows"]["exact"]) == {"item_cold"}  # Only files present.
  # Precision/recall@3, relevant >= 4 (the default: no results.json here).
  # Tied: user 0's one relevant item comes after its three others, user 1
  # gets one of its two; in random order 3 R / 4 of them are in the top 3.
  want = {"precision_pessimistic": (0 + 1 / 3) / 2,
          "precision_random_ties": (1 / 4 + 2 / 4) / 2,
          "recall_pessimistic": (0 + 1 / 2) / 2,
          "recall_random_ties": 3 / 4}
  for key, value in want.items():
    assert const[key]["mean"] == pytest.approx(value, abs=1e-6), key
  assert exact["precision_pessimistic"]["mean"] == pytest.approx(
      (1 / 3 + 2 / 3) / 2, abs=1e-6)
  assert exact["recall_random_ties"]["mean"] == pytest.approx(1.0)
  md = tie_report.markdown(rep)
  assert "| exact | 0.5000 | 0.5000 | 1.0000 | 1.0000 |" in md
  assert "| exact | 1.0000 | 1.0000 | 0% |" in md
  assert "| tied |" in md and "100% |" in md


def test_bad_line_is_named(tmp_path):
  path = tmp_path / "predictions_warm.csv"
  path.write_text("user_id,item_id,rating,prediction\n1,2,4.0,3.5\n1,3,x,2\n")
  with pytest.raises(DataError, match=r"predictions_warm.csv:3:"):
    predictions_csv.read_predictions(path)
  path.write_text("user,item,rating,prediction\n")
  with pytest.raises(DataError, match=r"predictions_warm.csv:1: header"):
    predictions_csv.read_predictions(path)


def test_workdir_without_table_is_named(tmp_path):
  with pytest.raises(DataError, match=r"table.json: not found"):
    tie_report.report(tmp_path)
  (tmp_path / "table.json").write_text("{\n oops")
  with pytest.raises(DataError, match=r"table.json:2: not valid JSON"):
    tie_report.report(tmp_path)
