r"""Continue meta-training a served run on its service's users.

  python scripts/refresh.py --workdir=workdirs/quickstart \
    --db=workdirs/quickstart/serving.sqlite --steps=200

Starts from the newest version of --workdir (its params, or the last
refresh), adds the database's users with 13..100 ratings as meta-training
tasks, selects on the run's validation users as training does (the served
parameters compete as step 0), and writes version n + 1 to
WORKDIR/versions/<n+1>/. A running scripts/serve.py switches to it without
dropping a request. Prints the version's record as JSON.
"""

import json
import os

from absl import flags

from metarec_jax.core import cli, compile_cache
from metarec_jax.serving import refresh

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "The served run.")
flags.DEFINE_string("db", None, "The service's event database (default "
                    "WORKDIR/serving.sqlite).")
flags.DEFINE_integer("steps", 200, "Meta-steps of the refresh.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  compile_cache.enable()
  db = FLAGS.db or os.path.join(FLAGS.workdir, "serving.sqlite")
  print(json.dumps(refresh.refresh(FLAGS.workdir, db, FLAGS.steps)))


if __name__ == "__main__":
  cli.run(main, config_flags=())
