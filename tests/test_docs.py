"""The README and docs show what the committed code and files give: the
generated blocks are current, every example's command is the one shown,
and nothing refers to files outside the repository."""

import json
import os
import pathlib
import re

import pytest

from metarec_jax.data import scenarios
from metarec_jax.evaluation import floors
from metarec_jax.experiments import (benchmark, docs, report, service_docs,
                                     tables)

# Every column of every group, for each scenario, method and floor.
_CELLS = {c: 0.5 for _, cols in tables.GROUPS for c in cols}
RESULTS_FOR_REPORT = {
    "scenarios": {s: {**_CELLS, "n_tasks": 3, "n_ratings": 30}
                  for s in scenarios.SCENARIOS},
    "floors": {f: {s: dict(_CELLS) for s in scenarios.SCENARIOS}
               for f in floors.FLOORS}}

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_results_block_is_generated_from_the_committed_tables():
  named = docs.summary_tables(str(ROOT))
  assert {"ML-100K", "ML-1M", "Book-Crossing"} <= set(named)
  assert docs.block(README, "results") == docs.results_summary(named)


def test_readme_service_blocks_are_the_generated_ones():
  service = (ROOT / "docs" / "service.md").read_text()
  assert docs.block(README, "service_example") == docs.block(
      service, "service_example")
  assert "/v1/users/" in docs.block(README, "service_example")
  results = json.loads((ROOT / service_docs.RESULTS).read_text())
  assert docs.block(README, "service_perf_line") == (
      service_docs.summary_line(results, service_docs.RESULTS))


def test_performance_table_is_generated_from_the_committed_benchmark():
  text = (ROOT / "docs" / "performance.md").read_text()
  bench = "results/bench_cpu.json"
  want = benchmark.markdown(json.loads((ROOT / bench).read_text()), bench)
  assert docs.block(text, "perf") == want + "\n"


@pytest.mark.parametrize("name", list(docs.EXAMPLES))
def test_every_example_shows_its_command_and_an_output(name):
  command = docs.EXAMPLES[name][0]
  shown = " ".join(README.replace("\\\n", " ").split())
  assert " ".join(command.split()) in shown, command
  body = docs.block(README, f"example_{name}")
  assert body and body.startswith("```\n") and len(body) > 10


def test_replace_block_keeps_the_rest():
  text = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n"
  assert docs.replace_block(text, "x", "new\n") == (
      "a\n<!-- x:start -->\nnew\n<!-- x:end -->\nb\n")
  with pytest.raises(ValueError, match="no <!-- y:start"):
    docs.replace_block(text, "y", "")


def test_readme_is_a_guide_and_nothing_points_outside_the_repository():
  assert len(README.splitlines()) <= 250
  arch = README.split("## Architecture", 1)[1]
  assert len(arch.strip().splitlines()) <= 30
  # The architecture names every subpackage there is, and no other.
  pkgs = {p.name for p in (ROOT / "metarec_jax").iterdir()
          if (p / "__init__.py").exists()}
  named = set(re.findall(r"^(\w+)/ ", arch, re.M))
  assert named == pkgs
  for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
    assert "../shared" not in path.read_text(), path
  for link in re.findall(r"\]\(([^)#:]+)\)", README):
    assert (ROOT / link).exists(), link


def test_first_group_keeps_each_scenarios_first_block():
  out = report.results_table(RESULTS_FOR_REPORT, "m").splitlines()
  kept = docs.first_group(out)
  assert [l.split()[0] for l in kept if not l.startswith(" ")] == [
      *scenarios.SCENARIOS, "'!'"]
  assert not any("precision@1" in l or "recall@10" in l for l in kept)
  assert sum("precision@1" in l for l in out) == 4  # what was left out
