r"""Moves the finished rows of one table workdir into another.

  python scripts/merge_rows.py --source=workdirs/table_ml1m_controls \
    --target=workdirs/table_ml1m

Two processes cannot share a table workdir, so a second process trains
rows in its own workdir (same table config and seeds), and this moves its
finished rows into the target, with their timing
(metarec_jax/experiments/merge_rows.py); a row still training stays (to
resume there, leave the moved rows out of that process's
--config.methods). Then rerun scripts/reproduce_table.py on the target
with the rows in --config.methods: they are read back into its table.
Refuses, moving nothing, when the workdirs' residual bases or splits
differ, no row has finished, or the target has a row already. Exit code 2
on bad input.
"""

from absl import flags

from metarec_jax.core import cli
from metarec_jax.experiments import merge_rows

_SOURCE = flags.DEFINE_string("source", None, "The workdir whose rows move.")
_TARGET = flags.DEFINE_string("target", None, "The table workdir they join.")
flags.mark_flags_as_required(["source", "target"])


def main(argv):
  del argv
  rows, timing = merge_rows.merge(_SOURCE.value, _TARGET.value)
  print(f"moved {', '.join(rows)} into {_TARGET.value}: wall_s {timing['wall_s']} over "
        f"{timing['processes']} processes")


if __name__ == "__main__":
  cli.run(main, config_flags=())
