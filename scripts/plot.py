r"""PNGs of a run: training loss and validation MAE over steps, and the
adaptation curve when the workdir has curve.json.

  python scripts/plot.py --workdir=workdirs/melu_ml100k

Writes W/training.png (and W/adaptation_curve.png); prints their paths.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top

from metarec_jax import cli, plots
from metarec_jax.data.sources import DataError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir.")
flags.mark_flags_as_required(["workdir"])


@cli.exit_on_bad_input
def main(argv):
  del argv
  try:
    paths = plots.plot_run(FLAGS.workdir)
  except FileNotFoundError as e:
    raise DataError(str(e)) from None
  print("\n".join(paths))


if __name__ == "__main__":
  app.run(main)
