"""docs/performance.md's targets block (experiments/speed_targets.py): the
verdicts follow the measured numbers, a table's compile seconds are summed
over its rows' training parts, and a missing GPU run says so."""

import pytest

from metarec_jax.experiments import speed_targets, warm_cache


def _compile_report(empty_s, warm_s):
  run = lambda s: {"compiles": {"compile_s": s, "compiles": 23,
                                "trace_s": 0.9, "lower_s": 0.7}}
  return {"empty_cache": run(empty_s), "warm_cache": run(warm_s)}


TIMING = {"cpus": 2, "wall_s": 1000.0, "load_avg": [1.0, 1.0, 1.0],
          "global": {"wall_s": 400.0, "train": [{"compile_s": 3.5},
                                                {"compile_s": 1.25}]},
          "mf_foldin": {"wall_s": 600.0, "train": [{"compile_s": 0.0}]},
          "validation_mae": {}}


def test_compile_seconds_sum_over_rows_and_parts():
  assert speed_targets.table_compile_s(TIMING) == 4.75


def test_verdicts_follow_the_measurements():
  rows = speed_targets.rows(_compile_report(12.0, 0.5), TIMING, None)
  got = {name: speed_targets.verdict(limit, measured)
         for name, limit, measured, _ in rows}
  assert list(got.values()) == ["missed", "met", "missed", "not measured",
                                "not measured"]
  fast = dict(TIMING, wall_s=899.0)
  rows = speed_targets.rows(_compile_report(9.99, 0.5), fast,
                            {"table": {"wall_s": 170.0,
                                       "rows_done": ["global", "maml"]}})
  assert [speed_targets.verdict(r[1], r[2]) for r in rows] == [
      "met", "met", "met", "not measured", "met"]
  assert "2 rows within the step's cap" in rows[-1][3]
  assert "2 rows" in rows[2][3] and "4.8 s" in rows[2][3]


def test_markdown_names_its_files_and_a_missing_gpu_run():
  text = speed_targets.markdown(_compile_report(9.2, 0.5), TIMING, None,
                                ("results/compile_cpu.json", "t.json"))
  assert "`results/compile_cpu.json`, `t.json`" in text
  assert "| ML-1M 5-seed table, empty cache (CPU) | 900 | 1,000.0 | missed" \
      in text
  assert "results/bench_gpu.json absent" in text


def _two_runs(rows_empty, rows_warm, outside=(5.0, 2.0)):
  """Two tables' timings from {row: (wall_s, step compile_s)}; outside:
  each table's seconds outside its rows."""
  def timing(rows, extra):
    return {"wall_s": sum(w for w, _ in rows.values()) + extra, "cpus": 2,
            **{k: {"wall_s": w, "train": [{"compile_s": c / 2}] * 2}
               for k, (w, c) in rows.items()}}
  return timing(rows_empty, outside[0]), timing(rows_warm, outside[1])


def test_warm_cache_saving_per_row_and_the_table_estimate():
  # Wall times move more than the compiling (ridge's row got slower): the
  # estimate takes the step compiling saved, summed over a row's parts.
  measured = warm_cache.compare(
      *_two_runs({"tanp": (455.0, 6.0), "ridge": (300.0, 5.0)},
                 {"tanp": (430.0, 1.0), "ridge": (310.0, 2.0)}))
  assert measured["rows"]["tanp"]["saved_s"] == 25.0
  assert measured["rows"]["ridge"]["step_compile_empty_s"] == 5.0
  assert measured["saved_s"] == 18.0   # 760 - 742
  assert measured["compile_saved_per_row_s"] == 4.0   # (5 + 3) / 2
  # TIMING has two rows: 1000 s less 2 x 4 s.
  assert warm_cache.estimate(TIMING, measured) == 992.0
  rows = speed_targets.rows(_compile_report(9.0, 0.5), TIMING, None,
                            measured)
  name, _, shown, how = rows[3]
  assert "warm cache" in name and shown == 992.0
  assert how.startswith("estimated") and "ridge, tanp" in how
  assert "4.0 s of step compiling" in how


def test_warm_cache_runs_must_hold_the_same_rows():
  empty, warm = _two_runs({"tanp": (455.0, 6.0)}, {"ridge": (300.0, 5.0)})
  with pytest.raises(ValueError, match="different rows"):
    warm_cache.compare(empty, warm)
  with pytest.raises(ValueError, match="no rows"):
    warm_cache.compare(*_two_runs({}, {}))
