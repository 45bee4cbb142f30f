r"""Gathers scripts/accelerator_check.sh's step outputs into one JSON.

  python -m metarec_jax.experiments.accelerator_report --out=OUT [--result=F]

Reads OUT/<step>.step.json (rc, cap, wall), versions.log, the benchmark's
JSON (each case compiled cold, then from the cache), the quick start's and
MeLU's run folders (float32 and bfloat16) and the table's timing.json, and
writes results/bench_<backend>.json (bench_gpu.json, bench_tpu.json; on a
CPU results/accelerator_check_cpu.json; or --result): the device, versions,
per-step status, per-case step time with cold and cached compile time, wall
and compile times of each run, bf16 minus f32 MAE per scenario, and the
table rows finished within the cap. A missing or failed step is reported
as such, never filled in.
"""

import json
import os

from absl import app, flags

from metarec_jax.core import io

STEPS = ("versions", "bench", "quickstart", "melu_f32", "melu_bf16", "table")
RUNS = ("quickstart", "melu_f32", "melu_bf16")


def _read(path: str):
  return io.read_json(path) if os.path.exists(path) else None


def versions(out: str):
  """The versions step's JSON line, or None."""
  path = os.path.join(out, "versions.log")
  if not os.path.exists(path):
    return None
  for line in reversed(open(path, encoding="utf-8").read().splitlines()):
    if line.startswith("{"):
      return json.loads(line)
  return None


def benchmark(bench) -> dict:
  """{case: ms/step, compile s with an empty cache and from the cache}."""
  return {name: {"ms_per_step_median": case.get("ms_per_step_median"),
                 "compile_s_empty_cache": case.get("compile_s"),
                 "compile_s_cached": case.get("compile_cached_s")}
          for name, case in ((bench or {}).get("cases") or {}).items()}


def run_summary(folder: str):
  """A run folder's wall, compile and per-scenario MAE (None: unfinished)."""
  results = _read(os.path.join(folder, "results.json"))
  timing = _read(os.path.join(folder, "timing.json"))
  if results is None or timing is None:
    return None
  return {"wall_s": timing.get("wall_s"), "compile_s": timing.get("compile_s"),
          "ms_per_step_mean": timing.get("ms_per_step_mean"),
          "mae": {s: m.get("mae") for s, m in results["scenarios"].items()}}


def table_summary(folder: str):
  timing = _read(os.path.join(folder, "timing.json"))
  if timing is None:
    return None
  rows = [k for k, v in timing.items() if isinstance(v, dict) and "wall_s" in v]
  return {"rows_done": rows, "wall_s": timing.get("wall_s"),
          "row_wall_s": {r: timing[r]["wall_s"] for r in rows}}


def report(out: str) -> dict:
  steps = {s: _read(os.path.join(out, f"{s}.step.json")) for s in STEPS}
  runs = {r: run_summary(os.path.join(out, r)) for r in RUNS}
  f32, bf16 = runs["melu_f32"], runs["melu_bf16"]
  delta = None
  if f32 and bf16:
    delta = {s: round(bf16["mae"][s] - f32["mae"][s], 6) for s in f32["mae"]}
  return {"versions": versions(out), "steps": steps,
          "benchmark": benchmark(_read(os.path.join(out, "bench.json"))),
          "runs": runs, "bf16_minus_f32_mae": delta,
          "table": table_summary(os.path.join(out, "table"))}


_OUT = flags.DEFINE_string("out", None, "accelerator_check.sh's $OUT folder.")
_RESULT = flags.DEFINE_string("result", "", "Where to write; default "
                              "results/bench_<backend>.json.")


def main(argv):
  del argv
  result = report(_OUT.value)
  backend = (result["versions"] or {}).get("backend", "unknown")
  # On a CPU, not results/bench_cpu.json: that is scripts/benchmark.py's.
  name = ("accelerator_check_cpu" if backend == "cpu" else f"bench_{backend}")
  path = _RESULT.value or os.path.join("results", f"{name}.json")
  io.write_json(path, result)
  print(f"wrote {path}")
  for name, step in result["steps"].items():
    print(f"  {name}: {step}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["out"])
  app.run(main)
