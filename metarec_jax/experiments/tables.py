"""Seeded results -> table.json and table.md (mean ± std over seeds).

table.json: {"methods": {M: {S: {metric: {"mean", "std", "seeds": [...]}}}},
"floors": {F: {...}}, "row_order": [methods in config order, then floors in
floors.py order], "title": ...}: render_markdown rebuilds table.md from it
alone. In table.md the best mean of each column (methods and floors) is
bold, and a method whose mean does not beat the best floor of that column
carries '!'. std is the sample standard deviation (ddof=1). Each scenario
has one table per group of GROUPS, so no table is too wide to read; a metric
the runs lack (runs older than it) is left out.
"""

import numpy as np

from metarec_jax.data import item_world, scenarios
from metarec_jax.evaluation import floors, metrics, ranking

PESSIMISTIC_GROUP = tuple(f"{m}@3{metrics.PESSIMISTIC}"
                          for m in ("ndcg", "precision"))
# (heading, metrics): the md tables of a scenario; every column is a metric
# of results.json, headed by its name less PREFIX and metrics.PESSIMISTIC.
GROUPS = (
    ("", ("mae", "rmse") + metrics.NDCG_KEYS + (metrics.CORR,)),
    ("precision and recall in the query", metrics.PR_KEYS),
    ("catalogue ranking (every candidate item; positives: the relevant "
     "query items)", ranking.EXPECTED_KEYS),
    ("lower bound, ties broken pessimistically (among equal predictions the "
     "lower true rating first)", PESSIMISTIC_GROUP),
)
PREFIX = "catalogue_"
METRICS = tuple(m for _, group in GROUPS for m in group)
# Kept in table.json beside the columns: every pessimistic bound, and the
# task counts (the tasks scored; those left out of precision and recall and
# of corr).
STORED = tuple(dict.fromkeys(METRICS + metrics.PESSIMISTIC_KEYS
                             + ranking.PESSIMISTIC_KEYS))
COUNTS = ("n_tasks",) + metrics.COUNTS
LOWER_IS_BETTER = {"mae", "rmse"}


def column_label(metric: str) -> str:
  """A column's heading: the metric less PREFIX and metrics.PESSIMISTIC."""
  return metric.removeprefix(PREFIX).removesuffix(metrics.PESSIMISTIC)


def summarise(values) -> dict:
  v = np.asarray(values, np.float64)
  std = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
  return {"mean": round(float(np.mean(v)), 6), "std": round(std, 6),
          "seeds": [round(float(x), 6) for x in v]}


def aggregate(per_seed: list) -> dict:
  """[{S: {metric: value}}] over seeds -> {S: {metric: summary}}, for the
  metrics of STORED and COUNTS every seed has."""
  return {s: {m: summarise([r[s][m] for r in per_seed])
              for m in STORED + COUNTS if all(m in r[s] for r in per_seed)}
          for s in per_seed[0]}


def build_table(method_results: dict, floor_results: list) -> dict:
  """method_results: {M: [per-seed {S: {metric}}]} in the rows' order;
  floor_results: per-seed results["floors"] ({F: {S: {metric}}}), one per
  seed."""
  order = _floor_order(floor_results[0])
  clash = set(method_results) & set(order)
  if clash:
    raise ValueError(f"rows {sorted(clash)} name both a method and a floor")
  return {"methods": {m: aggregate(r) for m, r in method_results.items()},
          "floors": {f: aggregate([fr[f] for fr in floor_results])
                     for f in order},
          "row_order": list(method_results) + order}


def _floor_order(names) -> list:
  """The floors present, in floors.py's order (results.json sorts keys)."""
  for order in (floors.FLOORS, floors.ITEM_FLOORS):
    if set(names) == set(order):
      return list(order)
  return sorted(names)


def ordered_rows(table: dict) -> list:
  """[(kind, name, {S: cells})] in table["row_order"] (tables built before
  it: methods as stored, then floors in floors.py's order); kind is
  "method" or "floor"."""
  methods, floor_rows = table["methods"], table.get("floors", {})
  order = list(table.get("row_order") or (list(methods)
                                          + _floor_order(floor_rows)))
  unknown = [n for n in order if n not in methods and n not in floor_rows]
  if unknown:
    raise ValueError(f"row_order names rows the table lacks: {unknown}")
  order += [n for n in list(methods) + list(floor_rows) if n not in order]
  return [("method", n, methods[n]) if n in methods
          else ("floor", n, floor_rows[n]) for n in order]


def floor_best(table, s, metric) -> float | None:
  """The best floor mean of a column (None when no floor has the metric)."""
  vals = [table["floors"][f][s][metric]["mean"] for f in table["floors"]
          if metric in table["floors"][f][s]
          and not (f == "random" and metric in LOWER_IS_BETTER)]
  if not vals:
    return None
  return (min if metric in LOWER_IS_BETTER else max)(vals)


def beats(metric: str, value: float, best: float) -> bool:
  return value < best if metric in LOWER_IS_BETTER else value > best


TEXT_SUFFIX = "_text"
TEXT_CELLS = (("item_cold", "mae"), ("item_cold", "ndcg@3"),
              ("user_item_cold", "mae"), ("user_item_cold", "ndcg@3"))


def text_effect(table: dict) -> list[str]:
  """Lines comparing every row M with its row M_text, seed by seed.

  Both rows ran on the same seeds and tasks, so the comparison is paired: a
  "clear gain" means the text row is better on every seed; anything less is
  reported as no clear gain, with the mean difference.
  """
  methods = table["methods"]
  lines = []
  for _, base, _ in [r for r in ordered_rows(table) if r[0] == "method"]:
    text = base + TEXT_SUFFIX
    if text not in methods:
      continue
    for s, metric in TEXT_CELLS:
      if s not in methods[base] or s not in methods[text]:
        continue
      a, b = methods[base][s][metric], methods[text][s][metric]
      wins = sum(beats(metric, y, x) for x, y in zip(a["seeds"], b["seeds"]))
      n = len(a["seeds"])
      verdict = ("clear gain" if wins == n and n > 1 else
                 "no clear gain")
      lines.append(f"- {base} -> {text}, {s} {metric}: {a['mean']:.4f} -> "
                   f"{b['mean']:.4f} ({b['mean'] - a['mean']:+.4f}; text "
                   f"better on {wins}/{n} seeds): **{verdict}**")
  return lines


def add_selection(table: dict, per_seed: dict, k_shots=()) -> None:
  """Puts the selection into table: {method: [best validation MAE per
  seed]}, their means, and the k-shot cuts of the criterion (if any)."""
  table["validation_mae_seeds"] = {m: list(v) for m, v in per_seed.items()}
  table["validation_mae"] = {m: float(np.mean(v))
                             for m, v in per_seed.items()}
  if k_shots:  # train.validation_mae's cuts.
    table["validation_k_shots"] = list(k_shots)


def ties_and_runner_up(table: dict, order) -> tuple[list, str | None]:
  """(rows whose criterion equals the selected row's on every seed, the
  first row after them). A tie is a row validation cannot tell apart
  (mf_meta_known trains exactly as mf_meta; only test users it knows
  differ): the earlier row in the table's order stays selected, and the
  margin is taken against the runner-up."""
  per_seed = table.get("validation_mae_seeds", {})
  first = per_seed.get(order[0]) if order else None
  ties = [m for m in order[1:] if first is not None
          and per_seed.get(m) == first]
  rest = [m for m in order[1:] if m not in ties]
  return ties, (rest[0] if rest else None)


def _margin(table: dict, order) -> str:
  """How often the selected row beats the runner-up, seed by seed: a mean
  lead that one seed carries is a thin selection."""
  per_seed = table.get("validation_mae_seeds", {})
  ties, runner_up = ties_and_runner_up(table, order)
  tied = (f"; tied on every seed with {', '.join(ties)}, kept as the "
          "earlier row" if ties else "")
  if runner_up is None or order[0] not in per_seed or (
      runner_up not in per_seed):
    return f" ({tied[2:]})" if ties else ""
  a, b = per_seed[order[0]], per_seed[runner_up]
  wins = sum(x < y for x, y in zip(a, b))
  return (f" (lower than the runner-up {runner_up} on {wins}/{len(a)} "
          f"seeds, by {min(y - x for x, y in zip(a, b)):+.4f} to "
          f"{max(y - x for x, y in zip(a, b)):+.4f}{tied})")


def _block(rows, s: str, group, table: dict) -> list[str]:
  """One md table: the group's metrics (those some row has) for scenario s."""
  cols = [m for m in group if any(m in r[2][s] for r in rows)]
  if not cols:
    return []
  lines = ["| | " + " | ".join(column_label(m) for m in cols) + " |",
           "|---|" + "---|" * len(cols)]
  best = {}
  for metric in cols:
    vals = [r[2][s][metric]["mean"] for r in rows if metric in r[2][s]
            and not (r[1] == "random" and metric in LOWER_IS_BETTER)]
    best[metric] = (min if metric in LOWER_IS_BETTER else max)(vals)
  for kind, name, res in rows:
    cells = []
    for metric in cols:
      if metric not in res[s]:
        cells.append("–")
        continue
      c = res[s][metric]
      text = f"{c['mean']:.4f} ± {c['std']:.4f}"
      if c["mean"] == best[metric] and not (
          name == "random" and metric in LOWER_IS_BETTER):
        text = f"**{text}**"
      floor = floor_best(table, s, metric)
      if kind == "method" and floor is not None and not beats(
          metric, c["mean"], floor):
        text += " !"
      cells.append(text)
    label = name if kind == "method" else f"_{name}_ (floor)"
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return lines + [""]


def _task_word(scenario: str) -> str:
  """What a task is in this scenario: an item in item warm-up, else a user."""
  return "item" if scenario in item_world.SCENARIOS else "user"


def _left_out(rows, s: str, group) -> str:
  """' (N of T users ...)' for the query group: the users left out of
  precision and recall (and of catalogue ranking: the same users)."""
  if group != metrics.PR_KEYS:
    return ""
  cell = next((r[2][s] for r in rows if "n_tasks_no_relevant" in r[2][s]),
              None)
  if cell is None:
    return ""
  return (f" (left out of precision and recall, no relevant query item: "
          f"{cell['n_tasks_no_relevant']['mean']:g} of "
          f"{cell['n_tasks']['mean']:g} {_task_word(s)}s, mean over seeds)")


def _corr_note(rows, s: str) -> list[str]:
  """Who corr leaves out: the tasks whose query ratings are all equal."""
  cell = next((r[2][s] for r in rows if "n_tasks_constant_truth" in r[2][s]),
              None)
  if cell is None:
    return []
  return [f"corr: mean over {_task_word(s)}s of the Pearson correlation of "
          "predicted and true query ratings; left out (all query ratings "
          f"equal): {cell['n_tasks_constant_truth']['mean']:g} of "
          f"{cell['n_tasks']['mean']:g}, mean over seeds.", ""]


def _scenario(table: dict, rows, s: str) -> list[str]:
  """A scenario's section: one md table per group of GROUPS."""
  lines = [f"## {s}", ""]
  for heading, group in GROUPS:
    block = _block(rows, s, group, table)
    if block and heading:
      block = [f"### {s}: {heading}{_left_out(rows, s, group)}", ""] + block
    lines += block
    if block and group == GROUPS[0][1] and any(
        metrics.CORR in r[2][s] for r in rows):
      lines += _corr_note(rows, s)
  return lines


def _selection(table: dict, names) -> list[str]:
  """The selection line: every row's mean best validation MAE."""
  val = table.get("validation_mae")
  if not val:  # The only selection the protocol allows: validation users.
    return []
  order = sorted(val, key=val.get)
  ks = table.get("validation_k_shots")
  over = (", averaged over their full supports and the supports cut to K = "
          + ", ".join(map(str, ks)) if ks else "")
  who = _task_word(names[0]) if names else "user"
  return ["", f"Mean best validation MAE (validation {who}s only{over}; "
          "the selection criterion): " + ", ".join(
              f"{m} {val[m]:.4f}" for m in order) + f". Selected: "
          f"**{order[0]}**" + _margin(table, order) + "."]


def render_markdown(table: dict) -> str:
  """table.md from table.json's dict alone (its title, rows in row_order)."""
  title = table.get("title", "")
  lines = [f"# {title}", ""] if title else []
  table_rows = ordered_rows(table)
  names = list(dict.fromkeys(s for r in table_rows for s in r[2]))
  for s in [s for s in scenarios.SCENARIOS if s in names] + [
      s for s in names if s not in scenarios.SCENARIOS]:
    lines += _scenario(table, table_rows, s)
  first_floor = next(iter(table["floors"].values()))
  n = len(next(iter(first_floor.values()))["mae"]["seeds"])
  lines.append(f"Mean ± sample std over {n} seeds. **bold** = best mean in "
               "the column; ! = the method's mean does not beat the best "
               "floor of that column (random excluded for MAE/RMSE).")
  if any(m in r[2][s] for r in table_rows for s in r[2]
         for m in GROUPS[1][1] + (metrics.CORR,)):
    lines.append("Ranking metrics, corr, precision, recall and catalogue "
                 "ranking: higher is better; tied predictions count at their "
                 "expectation over random orders of the ties (the "
                 "pessimistic order is the lower bound in each scenario's "
                 "last table); relevant = a query rating >= the relevance "
                 "threshold (docs/protocol.md).")
  effect = text_effect(table)
  if effect:
    lines += ["", "Item text features, paired by seed (same tasks): "] + effect
  lines += _selection(table, names)
  return "\n".join(lines) + "\n"


def markdown(table: dict, title: str = "") -> str:
  """render_markdown, with title in place of the table's own (if given)."""
  return render_markdown({**table, "title": title} if title else table)
