r"""Regenerates (or checks) the generated blocks of README.md and docs/.

  python scripts/update_docs.py            # check: exit 1 if one is stale
  python scripts/update_docs.py --update   # rewrite them
  python scripts/update_docs.py --update --examples   # also rerun examples

Blocks: the README's results summary (from the committed tables' JSON),
docs/performance.md's table (from results/bench_cpu.json),
docs/service.md's serving table (from results/serving_cpu.json),
docs/tables.md's findings and docs/results.md's validation numbers (from
each regenerated table's JSON) and, with
--examples, the README's example outputs (the commands it shows, run from
the repository root; the quick start trains for a few minutes) and
docs/service.md's recipe responses (a service started on the quick start's
run).
"""

import json
import os
import sys

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import (benchmark, compile_report, docs,
                                     findings, known_user_prior, scaling,
                                     service_docs, speed_targets,
                                     validation_report)

_UPDATE = flags.DEFINE_bool("update", False, "Rewrite the stale blocks.")
_EXAMPLES = flags.DEFINE_bool("examples", False, "Rerun the examples too.")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE = "results/compile_cpu.json"  # scripts/compile_report.py
SCALING = "results/scaling_cpu.json"  # scripts/scaling.py
KNOWN_USERS = "results/known_user_prior_ml1m.json"  # its script
ML1M_TIMING = "docs/tables/coldstart_ml1m_timing.json"
GPU_BENCH = "results/bench_gpu.json"  # scripts/accelerator_check.sh
WARM_CACHE = "results/warm_cache_ml1m_cpu.json"  # its script


def _optional(path):
  exists = os.path.exists(os.path.join(ROOT, path))
  return json.loads(_read(path)) if exists else None


def _read(path):
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    return f.read()


def _targets() -> str:
  gpu, warm = _optional(GPU_BENCH), _optional(WARM_CACHE)
  return speed_targets.markdown(
      json.loads(_read(COMPILE)), json.loads(_read(ML1M_TIMING)), gpu,
      (COMPILE, ML1M_TIMING) + ((WARM_CACHE,) if warm else ())
      + ((GPU_BENCH,) if gpu else ()), warm) + "\n"


def _generated() -> dict:
  """{file: {block: body}} that the committed code and files give."""
  named = docs.summary_tables(ROOT)
  bench = "results/bench_cpu.json"
  serving = json.loads(_read(service_docs.RESULTS))
  out = {"README.md": {"results": docs.results_summary(named),
                       "service_perf_line": service_docs.summary_line(
                           serving, service_docs.RESULTS),
                       # The README shows docs/service.md's responses.
                       "service_example": docs.block(
                           _read("docs/service.md"), "service_example")},
         "docs/performance.md": {"perf": benchmark.markdown(
             json.loads(_read(bench)), bench) + "\n",
                                 "compile_report": compile_report.markdown(
                                     json.loads(_read(COMPILE)), COMPILE),
                                 "scaling": scaling.markdown(
                                     json.loads(_read(SCALING)), SCALING),
                                 "targets": _targets()},
         "docs/service.md": {"service_perf": service_docs.perf_table(
             json.loads(_read(service_docs.RESULTS)), service_docs.RESULTS)}}
  # Every validation number each regenerated table's choices compared.
  out["docs/results.md"] = {
      "validation_" + os.path.basename(link).removesuffix(".md"):
      validation_report.markdown(table)
      for link, table in named.values()
      if "grid_validation" in table or "residual_base_validation" in table}
  out["docs/results.md"]["known_user_prior"] = known_user_prior.markdown(
      json.loads(_read(KNOWN_USERS)))
  # What each regenerated table says: the numbers docs/tables.md argues from.
  out["docs/tables.md"] = {
      "findings_" + os.path.basename(link).removesuffix(".md"):
      findings.markdown(table)
      for link, table in named.values() if "row_order" in table}
  if _EXAMPLES.value:
    out["README.md"].update({f"example_{name}": docs.run_example(name, ROOT)
                             for name in docs.EXAMPLES})
    example = service_docs.example_block(ROOT)
    out["docs/service.md"]["service_example"] = example
    out["README.md"]["service_example"] = example
  return out


def main(argv):
  del argv
  stale = []
  for path, blocks in _generated().items():
    text = _read(path)
    for name in docs.check(text, blocks):
      stale.append(f"{path}: {name}")
      text = docs.replace_block(text, name, blocks[name])
    if _UPDATE.value:
      io.write_text(os.path.join(ROOT, path), text)
  print("\n".join(stale) or "every generated block is current")
  if stale and not _UPDATE.value:
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main, config_flags=())
