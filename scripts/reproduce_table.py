r"""Every method and floor with 5 seeds: table.json, table.md, curve.

  python scripts/reproduce_table.py \
    --config=configs/tables/coldstart.py:ml100k --workdir=W

Writes W/table.json, W/table.md, W/timing.json, W/curve.{json,png} and
W/runs/<method>/seed<s>/ (results.json, predictions_*.csv); prints table.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from metarec_jax import cli, coldstart, compile_cache, tables

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where the table and runs go.")
flags.mark_flags_as_required(["config", "workdir"])


@cli.exit_on_bad_input
def main(argv):
  del argv
  compile_cache.enable()
  table = coldstart.reproduce(FLAGS.config, FLAGS.workdir)
  print(tables.markdown(table, FLAGS.config.data.name))


if __name__ == "__main__":
  app.run(main)
