r"""Meta-step speed benchmark; writes JSON and prints a short table.

  python scripts/benchmark.py --config=configs/benchmark.py:full --out=bench.json

The ML-1M case needs METAREC_ML1M_DIR (or --config.ml1m_dir).
"""

from absl import flags
from ml_collections import config_flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import benchmark

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Benchmark config.")
flags.DEFINE_string("out", None, "JSON output path.")
flags.mark_flags_as_required(["config", "out"])


def main(argv):
  del argv
  # Rewritten after each case: a run stopped part-way keeps what it timed.
  result = benchmark.run_all(FLAGS.config,
                             on_case=lambda r: io.write_json(FLAGS.out, r))
  io.write_json(FLAGS.out, result)
  print(benchmark.table(result))


if __name__ == "__main__":
  cli.run(main)
