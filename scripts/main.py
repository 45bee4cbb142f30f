r"""Meta-trains a method, selects on validation users, evaluates 4 scenarios.

  python scripts/main.py --config=configs/melu.py:ml100k --workdir=/tmp/melu

Writes results.json, predictions_<scenario>.csv, split.json, timing.json,
TensorBoard events and checkpoints into --workdir; prints the table.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from metarec_jax import cli, compile_cache, report, sharding, train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where results and checkpoints go.")
flags.DEFINE_bool("overwrite", False,
                  "Train again over a finished run in --workdir.")
flags.DEFINE_bool("distributed", False,
                  "Multi-host: call jax.distributed.initialize() first (the "
                  "cluster is auto-detected on TPU pods and SLURM).")
flags.mark_flags_as_required(["config", "workdir"])


@cli.exit_on_bad_input
def main(argv):
  del argv
  compile_cache.enable()
  if FLAGS.distributed:
    sharding.initialize_distributed()
  with cli.claim_workdir(FLAGS.workdir, FLAGS.overwrite):
    results = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  print(report.results_table(results, FLAGS.config.method))


if __name__ == "__main__":
  app.run(main)
