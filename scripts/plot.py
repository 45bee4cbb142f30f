r"""PNGs of a run: training loss and validation MAE over steps, and the
adaptation curve when the workdir has curve.json.

  python scripts/plot.py --workdir=workdirs/melu_ml100k

Writes W/training.png (and W/adaptation_curve.png); prints their paths.
"""

from absl import flags

from metarec_jax.core import cli
from metarec_jax.core.errors import DataError
from metarec_jax.experiments import plots

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  try:
    paths = plots.plot_run(FLAGS.workdir)
  except FileNotFoundError as e:
    raise DataError(str(e)) from None
  print("\n".join(paths))


if __name__ == "__main__":
  cli.run(main, config_flags=())
