r"""Where a first run's time goes: compiling, counted per function.

  python scripts/compile_report.py --out=results/compile_cpu.json
  python scripts/update_docs.py --update   # docs/performance.md's block

Runs scripts/main.py on --config twice, each a fresh process and workdir:
with an empty compilation cache, then with the cache that run filled
(metarec_jax/experiments/compile_report.py).
"""

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import compile_report

_CONFIG = flags.DEFINE_string("config_spec", "configs/selected.py:ml100k",
                              "The --config of the run to measure.")
_OUT = flags.DEFINE_string("out", None, "JSON output path.")
flags.mark_flags_as_required(["out"])


def main(argv):
  del argv
  report = compile_report.measure(_CONFIG.value)
  io.write_json(_OUT.value, report)
  print(compile_report.markdown(report, _OUT.value))


if __name__ == "__main__":
  cli.run(main, config_flags=())
