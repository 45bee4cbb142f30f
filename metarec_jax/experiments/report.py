"""Plain-text tables of results.json: every method beside its floors."""

from metarec_jax.data import scenarios
from metarec_jax.evaluation import floors

COLUMNS = ("mae", "rmse", "ndcg@1", "ndcg@3", "ndcg@5")
LOWER_IS_BETTER = {"mae", "rmse"}


def _beats(metric, value, floor_values) -> bool:
  best = (min if metric in LOWER_IS_BETTER else max)(floor_values)
  return value < best if metric in LOWER_IS_BETTER else value > best


def results_table(results: dict, method: str) -> str:
  """One block per scenario: the method, then each floor.

  A method value that does not beat the best floor is marked with '!'.
  """
  lines = []
  for s in scenarios.SCENARIOS:
    m = results["scenarios"][s]
    lines.append(f"{s} ({m['n_tasks']} tasks, {m['n_ratings']} ratings)")
    lines.append(f"  {'':22s}" + "".join(f"{c:>10s}" for c in COLUMNS))
    cells = []
    for c in COLUMNS:
      floor_vals = [results["floors"][f][s][c] for f in floors.FLOORS
                    if not (f == "random" and c in LOWER_IS_BETTER)]
      mark = "" if _beats(c, m[c], floor_vals) else "!"
      cells.append(f"{m[c]:.4f}{mark}".rjust(10))
    lines.append(f"  {method:22s}" + "".join(cells))
    for f in floors.FLOORS:
      fm = results["floors"][f][s]
      lines.append(f"  {f:22s}" + "".join(f"{fm[c]:10.4f}" for c in COLUMNS))
  lines.append("'!' = does not beat the best floor in that column "
               "(random excluded for MAE/RMSE).")
  return "\n".join(lines)
