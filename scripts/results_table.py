r"""Mean ± std table from separate runs' results.json files.

  python scripts/results_table.py --root=W [--rows=melu,melu_text]
  python scripts/results_table.py --root=TABLE_W,TEXT_W --out=DIR

reads W/<row>/s<seed>/results.json (runs of scripts/main.py with
--config.seed=N) and W/runs/<row>/seed<seed>/results.json (the per-run files
of scripts/reproduce_table.py), joining the rows of several roots, writes
OUT/table.json and OUT/table.md (OUT: --out, else the first root) and prints
table.md.
Only seeds every row has finished are used. Exit code 2 on bad input.
"""

import os

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import results_table, tables

_ROOT = flags.DEFINE_list("root", None, "Folders of runs, comma-separated.")
_OUT = flags.DEFINE_string("out", "", "Where table.json/md go (default: the "
                           "first root).")
_ROWS = flags.DEFINE_list("rows", None, "Rows in order (default: all).")
_TITLE = flags.DEFINE_string("title", "", "Table title.")
_REPLACE = flags.DEFINE_bool(
    "replace", False, "A row in several roots comes from the last of them "
    "(e.g. a method rerun with its tuned config); table.json's `sources` "
    "records each row's root. Default: such a row is an error.")
flags.mark_flags_as_required(["root"])


def main(argv):
  del argv
  table = results_table.build(_ROOT.value, _ROWS.value, _REPLACE.value)
  if _TITLE.value:
    table["title"] = _TITLE.value
  text = tables.render_markdown(table)
  out = _OUT.value or _ROOT.value[0]
  os.makedirs(out, exist_ok=True)
  io.write_json(os.path.join(out, "table.json"), table)
  io.write_text(os.path.join(out, "table.md"), text)
  print(text)


if __name__ == "__main__":
  cli.run(main, config_flags=())
