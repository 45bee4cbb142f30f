r"""How much of a table's nDCG depends on tie-breaking (tie_report.py).

  python scripts/tie_report.py --workdir=W [--k=3] [--out=DIR]

W is a scripts/reproduce_table.py workdir. Writes OUT/ties.json and
OUT/ties.md (OUT: --out, else W) and prints ties.md. Exit code 2 on bad
input.
"""

import os

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import tie_report

_WORKDIR = flags.DEFINE_string("workdir", None, "A reproduce_table workdir.")
_K = flags.DEFINE_integer("k", 3, "nDCG cut-off.")
_OUT = flags.DEFINE_string("out", "", "Output folder (default: --workdir).")
_TITLE = flags.DEFINE_string("title", "", "Title of ties.md.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  rep = tie_report.report(_WORKDIR.value, _K.value)
  out = _OUT.value or _WORKDIR.value
  os.makedirs(out, exist_ok=True)
  io.write_json(os.path.join(out, "ties.json"), rep)
  text = tie_report.markdown(rep, _TITLE.value)
  io.write_text(os.path.join(out, "ties.md"), text)
  print(text)


if __name__ == "__main__":
  cli.run(main, config_flags=())
