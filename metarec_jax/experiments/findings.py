"""What a committed table says, as markdown generated from its JSON.

docs/tables.md keeps commands, wall times and reasons in prose; the
numbers it argues from are these blocks (scripts/update_docs.py), so the
prose cannot drift from the files. For a user- or item-task table: the row
validation selects, and per scenario its MAE, nDCG@3 and precision@3
beside the best floor and the classical rows (`content`, `mf_foldin`) and
the best row on test. For a transfer table: each method's three rows
(target only, source only, source then target) and what the source adds.
"""

from metarec_jax.experiments import docs, tables

METRICS = ("mae", "ndcg@3", "precision@3")
LABELS = {"mae": "MAE", "ndcg@3": "nDCG@3", "precision@3": "P@3"}
TRANSFER_ROWS = ("target_only", "source_only", "source_then_target")


def _mean(table: dict, row: str, s: str, metric: str):
  cell = table["methods"].get(row, {}).get(s, {}).get(metric)
  return None if cell is None else cell["mean"]


def _fmt(value, ref=None, metric="mae") -> str:
  if value is None:
    return "–"
  mark = "" if ref is None or tables.beats(metric, value, ref) else "!"
  return f"{value:.4f}{mark}"


def _best_floor(table: dict, s: str, metric: str):
  """(name, mean) of the best floor of a column (random not for errors)."""
  ref = tables.floor_best(table, s, metric)
  names = [f for f in table["floors"] if metric in table["floors"][f][s]
           and table["floors"][f][s][metric]["mean"] == ref
           and not (f == "random" and metric in tables.LOWER_IS_BETTER)]
  return (names[0] if names else "-"), ref


def _best_row(table: dict, s: str, metric: str):
  vals = {r: _mean(table, r, s, metric) for r in table["methods"]}
  vals = {r: v for r, v in vals.items() if v is not None}
  pick = min if metric in tables.LOWER_IS_BETTER else max
  row = pick(vals, key=vals.get)
  return row, vals[row]


def selection_line(table: dict) -> str:
  """"Validation selects `a` (0.7454), then `b` (0.7513); `a` is lower on
  5/5 seeds." from validation_mae and validation_mae_seeds."""
  val = table["validation_mae"]
  order = sorted(val, key=val.get)
  line = f"Validation selects `{order[0]}` ({val[order[0]]:.4f})"
  ties, b = tables.ties_and_runner_up(table, order)
  if ties:
    line += (" (tied on every seed with " + ", ".join(f"`{m}`" for m in ties)
             + ", which validation cannot tell apart; the earlier row in "
             "the table's order is kept)")
  if b is not None:
    a, per_seed = order[0], table.get("validation_mae_seeds", {})
    line += f", then `{b}` ({val[b]:.4f})"
    if a in per_seed and b in per_seed:
      wins = sum(x < y for x, y in zip(per_seed[a], per_seed[b]))
      line += f"; `{a}` is lower on {wins}/{len(per_seed[a])} seeds"
  return line + "."


def selected_block(table: dict) -> str:
  """The selected row against the best floor, the classical rows and the
  best row on test, per scenario and metric (`!`: not better than the
  best floor)."""
  row = docs.selected(table)
  rivals = [r for r in docs.RIVALS if r in table["methods"] and r != row]
  head = (["scenario", "metric", f"`{row}` (selected)", "best floor"]
          + [f"`{r}`" for r in rivals] + ["best row on test"])
  lines = [selection_line(table), "",
           "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  wins = {m: 0 for m in METRICS}
  names = docs.scenario_names(table)
  for s in names:
    for metric in METRICS:
      if _mean(table, row, s, metric) is None:
        continue
      floor, ref = _best_floor(table, s, metric)
      value = _mean(table, row, s, metric)
      wins[metric] += ref is None or tables.beats(metric, value, ref)
      best, best_value = _best_row(table, s, metric)
      cells = ([s, LABELS[metric], _fmt(value, ref, metric),
                f"{_fmt(ref)} ({floor})"]
               + [_fmt(_mean(table, r, s, metric)) for r in rivals]
               + [f"{best_value:.4f} (`{best}`)"])
      lines.append("| " + " | ".join(cells) + " |")
  lines += ["", f"`{row}` beats the best floor in " + ", ".join(
      f"{LABELS[m]} {wins[m]}/{len(names)}" for m in METRICS)
      + " scenarios" + (f"; against {docs.rival_line(table, row)}"
                        if rivals else "") + "."]
  return "\n".join(lines) + "\n"


def transfer_block(table: dict) -> str:
  """Per method and scenario: MAE and nDCG@3 of its three transfer rows,
  and what the source adds (source then target minus target only)."""
  methods = sorted(r.removesuffix("_target_only") for r in table["methods"]
                   if r.endswith("_target_only"))
  lines = [selection_line(table), ""]
  for method in methods:
    rows = [f"{method}_{t}" for t in TRANSFER_ROWS]
    head = ["scenario", "metric"] + [f"`{r}`" for r in rows] + [
        "source adds", "best floor"]
    lines += [f"`{method}`:", "", "| " + " | ".join(head) + " |",
              "|---" * len(head) + "|"]
    for s in docs.scenario_names(table):
      for metric in ("mae", "ndcg@3"):
        vals = [_mean(table, r, s, metric) for r in rows]
        floor, ref = _best_floor(table, s, metric)
        gain = (None if None in (vals[0], vals[2])
                else vals[2] - vals[0])
        lines.append("| " + " | ".join(
            [s, LABELS[metric]] + [_fmt(v, ref, metric) for v in vals]
            + ["–" if gain is None else f"{gain:+.4f}",
               f"{_fmt(ref)} ({floor})"]) + " |")
    lines.append("")
  return "\n".join(lines)


def markdown(table: dict) -> str:
  if any(r.endswith("_target_only") for r in table["methods"]):
    return transfer_block(table)
  return selected_block(table)
