"""Generated blocks of the README and docs: what they show, a script made.

A block sits between `<!-- NAME:start -->` and `<!-- NAME:end -->`. Three
kinds: the results summary (from the committed tables' JSON), the
performance table (from a benchmark JSON), and example outputs: a command
shown in the README, run here, its stdout pasted below it. `check` says
which blocks differ from what the committed code and files produce now.
"""

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


def _cell(table: dict, row: str, s: str, metric: str) -> str:
  value = table["methods"][row][s][metric]["mean"]
  best = tables.floor_best(table, s, metric)
  mark = "" if tables.beats(metric, value, best) else " (does not beat it)"
  return f"{value:.4f} vs {best:.4f}{mark}"


# The cells of the results summary: (label, metric of table.json).
SUMMARY = (("MAE", "mae"), ("nDCG@3", "ndcg@3"), ("precision@5",
                                                   "precision@5"),
           ("catalogue recall@20", "catalogue_recall@20"))


def results_summary(named_tables: dict) -> str:
  """{label: (link, table.json dict)} -> markdown lines: each table's
  selected row and its MAE, nDCG@3, precision@5 and catalogue recall@20
  (those the table has) against the best floor."""
  lines = []
  for label, (link, table) in named_tables.items():
    val = table["validation_mae"]
    row = min(val, key=val.get)
    seeds = len(next(iter(table["floors"].values()))["warm"]["mae"]["seeds"])
    cells = [(name, m) for name, m in SUMMARY
             if m in table["methods"][row]["warm"]]
    lines.append(f"- [{label}]({link}), {seeds} seeds: validation selects "
                 f"`{row}` (criterion {val[row]:.4f}). Its mean against the "
                 "best floor of each column, "
                 + " / ".join(name for name, _ in cells) + ":")
    lines += [f"  - {s}: " + " / ".join(_cell(table, row, s, m)
                                        for _, m in cells)
              for s in scenarios.SCENARIOS]
  return "\n".join(lines) + "\n"


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
