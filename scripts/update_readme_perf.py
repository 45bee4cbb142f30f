r"""Rewrites the README's Performance section from a benchmark JSON file.

  python scripts/update_readme_perf.py --bench=results/bench_cpu.json

The section lies between `<!-- perf:start -->` and `<!-- perf:end -->`.
"""

import json

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import benchmark

flags.DEFINE_string("bench", None, "Benchmark JSON written by benchmark.py.")
flags.DEFINE_string("readme", "README.md", "README to update in place.")
FLAGS = flags.FLAGS
START, END = "<!-- perf:start -->", "<!-- perf:end -->"


def main(argv):
  del argv
  with open(FLAGS.bench) as f:
    result = json.load(f)
  with open(FLAGS.readme) as f:
    text = f.read()
  if START not in text or END not in text:
    sys.exit(f"{FLAGS.readme}: no {START} ... {END} markers")
  head, rest = text.split(START, 1)
  _, tail = rest.split(END, 1)
  body = benchmark.markdown(result, FLAGS.bench)
  io.write_text(FLAGS.readme, f"{head}{START}\n{body}\n{END}{tail}")


if __name__ == "__main__":
  flags.mark_flag_as_required("bench")
  cli.run(main, config_flags=())
