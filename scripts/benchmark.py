r"""Meta-step speed benchmark; writes JSON and prints a short table.

  python scripts/benchmark.py --config=configs/benchmark.py:full --out=bench.json

The ML-1M case needs METAREC_ML1M_DIR (or --config.ml1m_dir).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from metarec_jax import benchmark, evaluate

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Benchmark config.")
flags.DEFINE_string("out", None, "JSON output path.")
flags.mark_flags_as_required(["config", "out"])


def main(argv):
  del argv
  result = benchmark.run_all(FLAGS.config)
  evaluate.write_json(FLAGS.out, result)
  print(benchmark.table(result))


if __name__ == "__main__":
  app.run(main)
