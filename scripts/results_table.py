r"""Mean ± std table from separate runs' results.json files.

  python scripts/results_table.py --root=W [--rows=melu,melu_text]

reads W/<row>/s<seed>/results.json (runs of scripts/main.py with
--config.seed=N), writes W/table.json and W/table.md and prints table.md.
Only seeds every row has finished are used. Exit code 2 on bad input.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top

from metarec_jax import cli, evaluate, results_table, tables

_ROOT = flags.DEFINE_string("root", None, "Folder of <row>/s<seed>/ runs.")
_ROWS = flags.DEFINE_list("rows", None, "Rows in order (default: all).")
_TITLE = flags.DEFINE_string("title", "", "Table title.")
flags.mark_flags_as_required(["root"])


@cli.exit_on_bad_input
def main(argv):
  del argv
  table = results_table.build(_ROOT.value, _ROWS.value)
  text = tables.markdown(table, _TITLE.value)
  evaluate.write_json(os.path.join(_ROOT.value, "table.json"), table)
  tmp = os.path.join(_ROOT.value, "table.md.tmp")
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, os.path.join(_ROOT.value, "table.md"))
  print(text)


if __name__ == "__main__":
  app.run(main)
