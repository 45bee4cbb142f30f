"""scripts/warm_cache_table.py: a table's rows run twice in their own
processes, the second reading the compilation cache the first filled."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_second_run_reads_the_cache_the_first_filled(tmp_path):
  out = tmp_path / "warm.json"
  subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "warm_cache_table.py"),
       "--config=configs/tables/coldstart.py:ml100k,smoke",
       "--methods=global", f"--scratch={tmp_path}", f"--out={out}"],
      cwd=ROOT, check=True, timeout=600)
  got = json.loads(out.read_text())
  row = got["rows"]["global"]
  # Both runs trained the row; the warm one loaded its step instead of
  # compiling it (measured: 1.3 s against 0.6 s, which includes the first
  # step's run).
  for run in ("empty_cache", "warm_cache"):
    assert got["timing"][run]["global"]["train"][0]["steps_run"] > 0
  assert row["step_compile_warm_s"] < row["step_compile_empty_s"]
  assert got["compile_saved_per_row_s"] == (row["step_compile_empty_s"]
                                            - row["step_compile_warm_s"])
  # The scratch folders (two workdirs and the cache) are gone.
  assert sorted(os.listdir(tmp_path)) == ["warm.json"]
