"""experiments/accelerator_report.py: what accelerator_check.sh's steps
left becomes one JSON; a step that did not finish is reported missing,
never filled in."""

import json

from metarec_jax.experiments import accelerator_report


def _run(folder, maes, wall):
  folder.mkdir()
  (folder / "results.json").write_text(json.dumps(
      {"scenarios": {s: {"mae": m} for s, m in maes.items()}}))
  (folder / "timing.json").write_text(json.dumps(
      {"wall_s": wall, "compile_s": 1.0, "ms_per_step_mean": 2.0}))


def test_missing_steps_stay_missing_and_bf16_is_compared_per_scenario(
    tmp_path):
  (tmp_path / "versions.log").write_text(
      'noise\n{"backend": "gpu", "jax": "0.10.2"}\n')
  (tmp_path / "bench.step.json").write_text(
      '{"rc": 124, "cap_s": 140, "wall_ms": 140001}')
  _run(tmp_path / "melu_f32", {"warm": 0.75, "user_cold": 0.8}, 9.0)
  partial = accelerator_report.report(str(tmp_path))
  assert partial["versions"]["backend"] == "gpu"
  assert partial["steps"]["bench"]["rc"] == 124      # Hit its cap.
  assert partial["steps"]["table"] is None            # Never ran.
  assert partial["runs"]["melu_bf16"] is None
  assert partial["bf16_minus_f32_mae"] is None
  assert partial["benchmark"] == {} and partial["table"] is None
  _run(tmp_path / "melu_bf16", {"warm": 0.76, "user_cold": 0.79}, 5.0)
  full = accelerator_report.report(str(tmp_path))
  delta = full["bf16_minus_f32_mae"]
  assert abs(delta["warm"] - 0.01) < 1e-9
  assert abs(delta["user_cold"] + 0.01) < 1e-9
  assert full["runs"]["melu_bf16"]["wall_s"] == 5.0
