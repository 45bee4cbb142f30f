"""Every validation number a table's choices compared, as markdown.

A table chooses per seed, on that seed's validation users: the residual
base's priors (residual_base_validation) and each row's grid point
(grid_validation; the overfitting controls' rows are grids whose points
include the control off). This renders all of them from table.json, the
points that lost included, so docs/results.md shows what was tried and what
validation kept.
"""

# Rows the report calls controls: their grid is a control's strength.
CONTROL_KEYS = ("adversarial_eps", "feature_dropout", "text_dropout")


def _point(point: dict) -> str:
  return ", ".join(f"{k} {v:g}" for k, v in sorted(point.items())) or "-"


def _grid_lines(label: str, per_seed: list) -> list[str]:
  """One md table: a row per point, a column per seed, * on each seed's
  choice (the lowest criterion)."""
  points = [p["point"] for p in per_seed[0]]
  lines = [f"{label}:", "",
           "| point | " + " | ".join(f"seed {s}" for s in range(
               len(per_seed))) + " |", "|---|" + "---|" * len(per_seed)]
  for j, point in enumerate(points):
    cells = []
    for seed in per_seed:
      best = min(p["mae"] for p in seed)
      mae = seed[j]["mae"]
      cells.append(f"{mae:.4f}" + ("*" if mae == best else ""))
    lines.append(f"| {_point(point)} | " + " | ".join(cells) + " |")
  return lines + [""]


def kept(per_seed: list, key: str) -> int:
  """How many seeds chose a point with `key` above 0 (a control kept)."""
  n = 0
  for seed in per_seed:
    best = min(seed, key=lambda p: p["mae"])
    n += best["point"].get(key, 0.0) > 0
  return n


def _row_lines(per_row: dict) -> list[str]:
  """Each row's criterion at its chosen point, per seed: what the table's
  selection (the lowest mean) compared; * marks each seed's lowest row."""
  lines = ["Rows, each at its seed's chosen point (* = the seed's lowest "
           "row; the table selects the lowest mean):", "",
           "| row | " + " | ".join(f"seed {s}" for s in range(len(next(
               iter(per_row.values()))))) + " | mean |",
           "|---|" + "---|" * (len(next(iter(per_row.values()))) + 1)]
  seeds = len(next(iter(per_row.values())))
  if any(len(v) != seeds or None in v for v in per_row.values()):
    return [f"(rows with missing seeds: {sorted(per_row)})", ""]
  best = [min(v[s] for v in per_row.values()) for s in range(seeds)]
  for row, values in per_row.items():
    cells = [f"{v:.4f}" + ("*" if v == b else "")
             for v, b in zip(values, best)]
    lines.append(f"| `{row}` | " + " | ".join(cells)
                 + f" | {sum(values) / len(values):.4f} |")
  return lines + [""]


def markdown(table: dict) -> str:
  """The residual base's, every grid row's and every row's validation
  criteria."""
  lines = []
  base = table.get("residual_base_validation") or {}
  if base:
    seeds = sorted(base, key=int)
    lines += _grid_lines(
        "Residual base (item_prior, bias_prior), the base alone",
        [[{"point": p["point"], "mae": p["validation_mae"]} for p in base[s]]
         for s in seeds])
  grids = table.get("grid_validation") or {}
  for row, per_seed in grids.items():
    lines += _grid_lines(f"`{row}`", per_seed)
    for key in CONTROL_KEYS:
      if key in per_seed[0][0]["point"]:
        lines += [f"The control ({key} > 0) is kept by "
                  f"{kept(per_seed, key)} of {len(per_seed)} seeds.", ""]
  per_row = table.get("validation_mae_seeds") or {}
  if per_row:
    order = [r for r in table.get("row_order", []) if r in per_row]
    lines += _row_lines({r: per_row[r] for r in order + sorted(
        set(per_row) - set(order))})
  lines.append("Criterion: mean validation MAE over the full supports and "
               "the supports cut to each curve K (lower is better); * = "
               "the seed's choice. No test rating is read.")
  return "\n".join(lines) + "\n"
