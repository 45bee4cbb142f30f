"""Generated blocks of the README and docs: what they show, a script made.

A block sits between `<!-- NAME:start -->` and `<!-- NAME:end -->`. Three
kinds: the results summary (from the committed tables' JSON), the
performance table (from a benchmark JSON), and example outputs: a command
shown in the README, run here, its stdout pasted below it. `check` says
which blocks differ from what the committed code and files produce now.
"""

import json
import os
import re
import shutil
import subprocess
import sys

from metarec_jax.data import scenarios
from metarec_jax.experiments import report, tables

# Example name -> (the command the README shows, run from the repository
# root; what to keep of its stdout: "all", the last N lines, or
# "first_group": each scenario's first block of report.py's printout, its
# precision/recall and catalogue blocks left out for the README's length).
EXAMPLES = {
    "quickstart": ("scripts/main.py --config=configs/selected.py:ml100k "
                   "--workdir=workdirs/quickstart", "first_group"),
    "recommend": ("scripts/recommend.py --workdir=workdirs/quickstart "
                  "--ratings=my_ratings.csv --k=5", "all"),
    "bad_field": ("scripts/main.py --config=configs/melu.py:ml100k "
                  "--config.data.items=ratings.csv --workdir=/tmp/x", "all"),
}
# Written before the examples run (the README shows the same lines).
MY_RATINGS = "item_id,rating\n50,5\n181,5\n172,4\n1,4\n121,2\n"


def block(text: str, name: str) -> str | None:
  """The body of block NAME in text, or None when it has none."""
  m = re.search(f"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text,
                re.S)
  return m[1] if m else None


def replace_block(text: str, name: str, body: str) -> str:
  if block(text, name) is None:
    raise ValueError(f"no <!-- {name}:start --> ... end block")
  return re.sub(f"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)",
                lambda m: m[1] + body + m[2], text, flags=re.S)


# The committed tables the README summarises, when present: (label,
# docs/tables/<stem>.json).
SUMMARY_TABLES = (
    ("ML-100K", "coldstart_ml100k"), ("ML-1M", "coldstart_ml1m"),
    ("Book-Crossing", "coldstart_bookcrossing"),
    ("ML-100K new items as tasks", "warmup_ml100k"),
    ("ML-1M new items as tasks", "warmup_ml1m"),
    ("ML-1M -> ML-100K transfer", "transfer_ml100k"),
    ("ML-1M -> Book-Crossing transfer", "transfer_bookcrossing"))


def summary_tables(root: str) -> dict:
  """{label: (link, table.json dict)} of SUMMARY_TABLES' committed files."""
  out = {}
  for label, stem in SUMMARY_TABLES:
    path = os.path.join(root, "docs", "tables", f"{stem}.json")
    if os.path.isfile(path):
      with open(path, encoding="utf-8") as f:
        out[label] = (f"docs/tables/{stem}.md", json.load(f))
  return out


# The metrics of the results summary: (label, metric of table.json).
SUMMARY = (("MAE", "mae"), ("nDCG@3", "ndcg@3"))
# Rows a user-task table's selected row is held against besides the floors.
RIVALS = ("mf_foldin", "content")


def selected(table: dict) -> str:
  val = table["validation_mae"]
  return min(val, key=val.get)


def scenario_names(table: dict) -> list:
  first = next(iter(table["floors"].values()))
  return ([s for s in scenarios.SCENARIOS if s in first]
          + [s for s in first if s not in scenarios.SCENARIOS])


def _cell(table: dict, row: str, s: str, metric: str) -> str:
  """`value (best floor)`, with ! where the value does not beat it."""
  cell = table["methods"][row][s]
  if metric not in cell:
    return "–"
  value, ref = cell[metric]["mean"], tables.floor_best(table, s, metric)
  mark = "" if tables.beats(metric, value, ref) else "!"
  return f"{value:.4f} ({ref:.4f}){mark}"


def rival_line(table: dict, row: str) -> str:
  """How often the selected row beats each classical row present:
"`content` in MAE 3/4, nDCG@3 2/4"."""
  parts = []
  for rival in (r for r in RIVALS if r in table["methods"] and r != row):
    wins = [sum(tables.beats(m, table["methods"][row][s][m]["mean"],
                             table["methods"][rival][s][m]["mean"])
                for s in scenario_names(table)) for _, m in SUMMARY]
    n = len(scenario_names(table))
    parts.append(f"`{rival}` in " + ", ".join(
        f"{label} {w}/{n}" for (label, _), w in zip(SUMMARY, wins)))
  return "; ".join(parts)


def results_summary(named_tables: dict) -> str:
  """{label: (link, table.json dict)} -> a markdown table: for each table
  the row validation selects, and per scenario its MAE and nDCG@3 with
  the best floor's in parentheses (!: does not beat it); then how it does
  against the mf_foldin and content rows."""
  names = list(dict.fromkeys(s for _, t in named_tables.values()
                             for s in scenario_names(t)))
  lines = ["| table | selected | metric | " + " | ".join(names) + " |",
           "|---|---|---|" + "---|" * len(names)]
  notes = []
  for label, (link, table) in named_tables.items():
    row = selected(table)
    seeds = len(next(iter(next(iter(table["floors"].values())).values()))
                ["mae"]["seeds"])
    for i, (metric_label, m) in enumerate(SUMMARY):
      # Tables made before the symmetric protocol scored ties
      # pessimistically; they say so until regenerated.
      old = "" if "row_order" in table else " (ties pessimistic)"
      rows = len(table["methods"])  # A partial table shows it.
      head = (f"[{label}]({link}), {seeds} seeds, {rows} rows{old} | "
              f"`{row}`" if i == 0 else " | ")
      cells = [_cell(table, row, s, m) if s in table["methods"][row] else ""
               for s in names]
      lines.append(f"| {head} | {metric_label} | " + " | ".join(cells) + " |")
    rival = rival_line(table, row)
    if rival:
      notes.append(f"- {label}: `{row}` beats {rival} scenarios.")
  return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def first_group(lines: list) -> list:
  """report.results_table's lines without the blocks after each scenario's
  first (a block starts with an indented label line: `  query P/R ...`)."""
  later = tuple(f"  {label}" for label in report.GROUP_LABELS[1:])
  out, skipping = [], False
  for line in lines:
    if line.startswith(later):
      skipping = True
    elif not line.startswith("  "):
      skipping = False
    if not skipping:
      out.append(line)
  return out


def run_example(name: str, root: str) -> str:
  """Runs an example from the repository root; returns what the README
  shows of its output (stdout, and stderr where it fails)."""
  command, keep = EXAMPLES[name]
  with open(os.path.join(root, "my_ratings.csv"), "w") as f:
    f.write(MY_RATINGS)
  if name == "quickstart":  # As on a fresh clone: no finished run there.
    shutil.rmtree(os.path.join(root, "workdirs", "quickstart"),
                  ignore_errors=True)
  proc = subprocess.run([sys.executable] + command.split(), cwd=root,
                        capture_output=True, text=True, check=False)
  out = proc.stdout if proc.returncode == 0 else proc.stderr
  lines = out.rstrip("\n").splitlines()
  if keep == "first_group":
    lines = first_group(lines)
  elif keep != "all":
    lines = lines[-int(keep):]
  return "```\n" + "\n".join(lines) + "\n```\n"


def check(text: str, generated: dict) -> list:
  """Names of the blocks whose body differs from generated[name]."""
  return [name for name, body in generated.items()
          if block(text, name) != body]
