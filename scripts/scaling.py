r"""How cost grows: step time and XLA memory per dimension, one at a time.

  python scripts/scaling.py --out=results/scaling_cpu.json   # and .png

Tasks per batch, support length, inner steps, catalogue size and
simulated device count, each from MeLU's base point on ML-100K, plus the
synthetic 1,000,000 users x 200,000 items catalogue sized from the
measured scoring rate (metarec_jax/experiments/scaling.py).
"""

from absl import flags

from metarec_jax.core import cli, compile_cache, io
from metarec_jax.experiments import plots, scaling

_OUT = flags.DEFINE_string("out", None, "JSON path; the PNG goes beside it.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed runs per point (median).")
flags.mark_flags_as_required(["out"])


def main(argv):
  del argv
  compile_cache.enable()
  report = scaling.run(_STEPS.value)
  io.write_json(_OUT.value, report)
  plots.plot_scaling(report, _OUT.value.removesuffix(".json") + ".png")
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  cli.run(main, config_flags=())
