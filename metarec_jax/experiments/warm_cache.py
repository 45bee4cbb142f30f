"""What a warm compilation cache saves a table: the same rows run twice,
first with an empty cache, then with the cache the first run filled, and
their timing.json files compared row by row (scripts/warm_cache_table.py).

The ML-1M table runs for hours, so its warm-cache wall time is estimated
from a few rows: the table's empty-cache wall time less the mean saving per
row times its number of rows (speed_targets.py says so where it shows it).
"""


def _rows(timing: dict) -> dict:
  return {k: v for k, v in timing.items()
          if isinstance(v, dict) and "wall_s" in v}


def compare(empty: dict, warm: dict) -> dict:
  """Per row and in total: wall seconds with each cache, the saving, and
  the engine's step compile seconds with each."""
  a, b = _rows(empty), _rows(warm)
  if set(a) != set(b):
    raise ValueError(f"the two runs hold different rows: {sorted(a)} and "
                     f"{sorted(b)}")
  def compile_s(row):
    return sum(p["compile_s"] for p in row.get("train", ()))
  rows = {k: {"empty_cache_s": a[k]["wall_s"], "warm_cache_s": b[k]["wall_s"],
              "saved_s": a[k]["wall_s"] - b[k]["wall_s"],
              "step_compile_empty_s": compile_s(a[k]),
              "step_compile_warm_s": compile_s(b[k])} for k in sorted(a)}
  return {"rows": rows,
          "empty_cache_s": empty["wall_s"], "warm_cache_s": warm["wall_s"],
          "saved_s": empty["wall_s"] - warm["wall_s"],
          "saved_per_row_s": sum(r["saved_s"] for r in rows.values())
          / len(rows)}


def estimate(table_timing: dict, measured: dict) -> float:
  """A whole table's warm-cache wall seconds: its empty-cache wall time
  less the measured mean saving per row for each of its rows."""
  return table_timing["wall_s"] - measured["saved_per_row_s"] * len(
      _rows(table_timing))
