"""What a warm compilation cache saves a table: the same rows run twice,
first with an empty cache, then with the cache the first run filled, and
their timing.json files compared row by row (scripts/warm_cache_table.py).

The wall times of the two runs differ by more than the compiling: on the
2-core CPU a row's step time moved 10% between the runs (ML-1M melu, 447
and 491 ms), more than the 4-5 s of step compiling the cache saved. So the
table's warm-cache wall time is estimated from the compiling, which the
engine times on its own: the table's empty-cache wall time less the mean
step compile seconds saved per measured row, times the table's rows.
Evaluation's programs are not timed there, so the estimate leaves their
saving out (speed_targets.py says it is an estimate where it shows it).
"""


def rows_of(timing: dict) -> dict:
  """{row: its entry} of a table's timing.json (the entries with a wall
  time; the rest are the table's own fields)."""
  return {k: v for k, v in timing.items()
          if isinstance(v, dict) and "wall_s" in v}


def _compile_s(row: dict) -> float:
  return sum(p["compile_s"] for p in row.get("train", ()))


def compare(empty: dict, warm: dict) -> dict:
  """Per row and in total: wall seconds with each cache and their
  difference, and the engine's step compile seconds with each."""
  a, b = rows_of(empty), rows_of(warm)
  if not a:
    raise ValueError("the runs hold no rows: nothing to compare")
  if set(a) != set(b):
    raise ValueError(f"the two runs hold different rows: {sorted(a)} and "
                     f"{sorted(b)}")
  rows = {k: {"empty_cache_s": a[k]["wall_s"], "warm_cache_s": b[k]["wall_s"],
              "saved_s": a[k]["wall_s"] - b[k]["wall_s"],
              "step_compile_empty_s": _compile_s(a[k]),
              "step_compile_warm_s": _compile_s(b[k])} for k in sorted(a)}
  return {"rows": rows,
          "empty_cache_s": empty["wall_s"], "warm_cache_s": warm["wall_s"],
          "saved_s": empty["wall_s"] - warm["wall_s"],
          "compile_saved_per_row_s": sum(
              r["step_compile_empty_s"] - r["step_compile_warm_s"]
              for r in rows.values()) / len(rows)}


def estimate(table_timing: dict, measured: dict) -> float:
  """A whole table's warm-cache wall seconds: its empty-cache wall time
  less the measured step compile seconds saved per row, for each row."""
  return table_timing["wall_s"] - measured["compile_saved_per_row_s"] * len(
      rows_of(table_timing))
