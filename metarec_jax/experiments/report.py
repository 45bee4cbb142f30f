"""Plain-text tables of results.json: every method beside its floors."""

from metarec_jax.experiments import tables

# Short names of the groups of tables.GROUPS, in a line's first column.
GROUP_LABELS = ("", "query P/R", "catalogue", "ties pessimistic")
COLUMNS = tables.GROUPS[0][1]


def _beats(metric, value, floor_values) -> bool:
  best = (min if metric in tables.LOWER_IS_BETTER else max)(floor_values)
  return (value < best if metric in tables.LOWER_IS_BETTER
          else value > best)


def _group(results: dict, method: str, s: str, label: str, cols) -> list:
  m = results["scenarios"][s]
  cols = [c for c in cols if c in m]
  if not cols:
    return []
  names = [tables.column_label(c) for c in cols]
  w = max(10, max(len(n) for n in names) + 1)
  lines = [f"  {label:22s}" + "".join(f"{c:>{w}s}" for c in names)]
  cells = []
  for c in cols:
    floor_vals = [results["floors"][f][s][c] for f in results["floors"]
                  if c in results["floors"][f][s]
                  and not (f == "random" and c in tables.LOWER_IS_BETTER)]
    mark = "" if not floor_vals or _beats(c, m[c], floor_vals) else "!"
    cells.append(f"{m[c]:.4f}{mark}".rjust(w))
  lines.append(f"  {method:22s}" + "".join(cells))
  for f in results["floors"]:
    fm = results["floors"][f][s]
    lines.append(f"  {f:22s}" + "".join(
        f"{fm[c]:{w}.4f}" if c in fm else f"{'-':>{w}s}" for c in cols))
  return lines


def results_table(results: dict, method: str) -> str:
  """Per scenario, one block per metric group: the method, then each floor.

  A method value that does not beat the best floor is marked with '!'.
  """
  lines = []
  for s in results["scenarios"]:
    m = results["scenarios"][s]
    lines.append(f"{s} ({m['n_tasks']} tasks, {m['n_ratings']} ratings)")
    for label, (_, cols) in zip(GROUP_LABELS, tables.GROUPS):
      lines += _group(results, method, s, label, cols)
  lines.append("'!' = does not beat the best floor in that column "
               "(random excluded for MAE/RMSE); ranking metrics, corr, "
               "precision/recall (P/R) and catalogue ranking: higher is "
               "better, ties at their expectation; 'ties pessimistic': the "
               "lower bound.")
  return "\n".join(lines)
