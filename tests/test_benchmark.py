"""The benchmark's report formatting (timed cases: scripts/benchmark.py)."""

from metarec_jax.experiments import benchmark


def _result():
  case = {"ms_per_step_median": 29.89, "ms_per_step_p90": 62.6,
          "tasks_per_s": 1070.6, "compile_s": 35.9, "compile_cached_s": 5.1,
          "num_shapes": 6, "eval_ms_per_batch": 41.2, "peak_rss_mb": 1051.3,
          "achieved_gflops": 39.2, "fraction_of_peak": 0.189,
          "padding_fraction": 0.183}
  loop = dict(case, compile_cached_s=None, eval_ms_per_batch=None,
              achieved_gflops=None, fraction_of_peak=None)
  return {"machine": {"processor": "x86_64", "cpu_count": 2,
                      "backend": "cpu", "jax": "0.0"},
          "matmul_peak_gflops": 207.0,
          "cases": {"melu_ref_ml100k_5step": case,
                    "python_loop_ml100k_5step": loop}}


def test_markdown_rows_carry_the_json_figures():
  md = benchmark.markdown(_result(), "results/x.json").splitlines()
  row = next(l for l in md if l.startswith("| `melu_ref_ml100k_5step`"))
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[1:7] == ["29.9", "62.6", "1070.6", "35.9 (6)", "5.1", "41.2"]
  assert cells[-2:] == ["18.9%", "18.3%"]
  loop = next(l for l in md if l.startswith("| `python_loop"))
  assert loop.count("| - ") == 4  # Missing figures print as '-', not 0.
  assert "207.0 GFLOP/s" in md[0]


def test_text_table_lists_every_case():
  text = benchmark.table(_result())
  assert "melu_ref_ml100k_5step" in text and "python_loop" in text
  assert "207.0 GFLOP/s" in text.splitlines()[0]
