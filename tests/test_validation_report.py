"""docs/results.md's validation blocks: every point's criterion, the
seed's choice marked, and how many seeds kept a control."""

from metarec_jax.experiments import validation_report


def test_report_marks_each_seeds_lowest_point_and_counts_kept_controls():
  off, on = {"feature_dropout": 0.0}, {"feature_dropout": 0.3}
  table = {"grid_validation": {"finetune_feature_dropout": [
      [{"point": off, "mae": 0.80}, {"point": on, "mae": 0.79}],
      [{"point": off, "mae": 0.70}, {"point": on, "mae": 0.72}],
      [{"point": off, "mae": 0.75}, {"point": on, "mae": 0.74}]]},
           "residual_base_validation": {"0": [
               {"point": {"item_prior": 0.0}, "validation_mae": 0.9},
               {"point": {"item_prior": 3.0}, "validation_mae": 0.8}]}}
  md = validation_report.markdown(table)
  assert "| feature_dropout 0 | 0.8000 | 0.7000* | 0.7500 |" in md
  assert "| feature_dropout 0.3 | 0.7900* | 0.7200 | 0.7400* |" in md
  assert "kept by 2 of 3 seeds" in md
  assert "| item_prior 3 | 0.8000* |" in md


def test_report_lists_every_rows_criterion_with_its_mean():
  table = {"row_order": ["global", "ridge"],
           "validation_mae_seeds": {"ridge": [0.70, 0.90],
                                    "global": [0.80, 0.60]}}
  md = validation_report.markdown(table)
  # The table's order, each seed's lowest row starred, the mean the
  # selection compares ((0.8 + 0.6) / 2 = 0.7, (0.7 + 0.9) / 2 = 0.8).
  assert md.index("| `global` |") < md.index("| `ridge` |")
  assert "| `global` | 0.8000 | 0.6000* | 0.7000 |" in md
  assert "| `ridge` | 0.7000* | 0.9000 | 0.8000 |" in md
