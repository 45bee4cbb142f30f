r"""Sweeps one method's hyperparameters; selects on validation users only.

  python scripts/sweep.py --config=configs/tables/coldstart.py:ml100k \
    --method=fomaml --workdir=W

The grid is config.sweep (override e.g. --config.sweep.inner_lr="(0.05,
0.1)"). Traced floats are vmapped in one computation per static group.
Writes W/sweep.json; copy its "override" into configs/tables/tuned.py with
the command.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from metarec_jax import cli, compile_cache, sweep

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_string("method", None, "Method key (metarec_jax/zoo.py).")
flags.DEFINE_string("workdir", None, "Where sweep.json goes.")
flags.mark_flags_as_required(["config", "method", "workdir"])


@cli.exit_on_bad_input
def main(argv):
  del argv
  compile_cache.enable()
  out = sweep.run_sweep(FLAGS.config, FLAGS.method, FLAGS.workdir)
  print(json.dumps({"best": out["best"], "override": out["override"]},
                   indent=1))


if __name__ == "__main__":
  app.run(main)
