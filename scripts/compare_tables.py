r"""Compares two tables' table.json cell by cell; writes JSON and markdown.

  python scripts/compare_tables.py --before=A/table.json --after=B/table.json \
    --out=docs/tables/coldstart_ml100k_vs_old --names=old,new
"""

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.experiments import compare

_BEFORE = flags.DEFINE_string("before", None, "The earlier table.json.")
_AFTER = flags.DEFINE_string("after", None, "The later table.json.")
_OUT = flags.DEFINE_string("out", None, "Writes OUT.json and OUT.md.")
_NAMES = flags.DEFINE_list("names", ["before", "after"], "Two labels.")
flags.mark_flags_as_required(["before", "after", "out"])


def main(argv):
  del argv
  diff = compare.compare(io.read_json(_BEFORE.value, "a table.json"),
                         io.read_json(_AFTER.value, "a table.json"))
  io.write_json(_OUT.value + ".json", diff)
  text = compare.markdown(diff, *_NAMES.value)
  io.write_text(_OUT.value + ".md", text)
  print(text)


if __name__ == "__main__":
  cli.run(main, config_flags=())
