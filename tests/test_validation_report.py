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
