r"""A table's rows run twice, first with an empty compilation cache, then
with the one the first run filled: what a warm cache saves.

  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/warm_cache_table.py \
    --config=configs/tables/coldstart.py:ml1m,text,controls --methods=tanp,melu \
    --out=results/warm_cache_ml1m_cpu.json

Each run is its own process of scripts/reproduce_table.py (an in-process
rerun would keep its compiled programs in memory), in a fresh folder under
--scratch with its own cache there; the folder is removed afterwards.
Writes the two runs' timing.json files and their row-by-row comparison.
Only the compilation cache starts empty: run the table (or its data
preparation) once beforehand, so that the dataset and item-text caches
under $METAREC_CACHE_DIR are already filled and not counted as saving.
"""

import os
import subprocess
import sys
import tempfile

from absl import flags
from absl import logging

from metarec_jax.core import cli, io
from metarec_jax.experiments import warm_cache

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Table config, as reproduce_table.py "
                    "takes it (file:arg).")
flags.DEFINE_list("methods", ["tanp"], "Rows to run.")
flags.DEFINE_string("scratch", None, "Where the two workdirs and the cache "
                    "go (default: a temporary folder).")
flags.DEFINE_string("out", None, "JSON output path.")
flags.mark_flags_as_required(["config", "out"])
SCRIPT = os.path.join(os.path.dirname(__file__), "reproduce_table.py")


def _run(config: str, methods: list, workdir: str, cache: str) -> dict:
  rows = "".join(f"'{m}'," for m in methods)
  cmd = [sys.executable, SCRIPT, f"--config={config}",
         f"--config.methods=({rows})", f"--workdir={workdir}"]
  logging.info("running %s", " ".join(cmd))
  subprocess.run(cmd, check=True, env={**os.environ,
                                       "METAREC_COMPILE_CACHE": cache})
  return io.read_json(os.path.join(workdir, "timing.json"))


def main(argv):
  del argv
  with tempfile.TemporaryDirectory(dir=FLAGS.scratch) as tmp:
    cache = os.path.join(tmp, "xla")
    empty = _run(FLAGS.config, FLAGS.methods, os.path.join(tmp, "empty"),
                 cache)
    warm = _run(FLAGS.config, FLAGS.methods, os.path.join(tmp, "warm"),
                cache)
  out = {"config": FLAGS.config, "methods": FLAGS.methods,
         **warm_cache.compare(empty, warm),
         "timing": {"empty_cache": empty, "warm_cache": warm}}
  io.write_json(FLAGS.out, out)
  print(f"{', '.join(FLAGS.methods)}: empty cache {out['empty_cache_s']:.1f}"
        f" s, warm {out['warm_cache_s']:.1f} s; step compiling saved "
        f"{out['compile_saved_per_row_s']:.1f} s per row", flush=True)


if __name__ == "__main__":
  cli.run(main)
