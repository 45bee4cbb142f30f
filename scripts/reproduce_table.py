r"""Every method and floor with 5 seeds: table.json, table.md, curve.

  python scripts/reproduce_table.py \
    --config=configs/tables/coldstart.py:ml100k --workdir=W

Writes W/table.json, W/table.md, W/timing.json, W/curve.{json,png} and
W/runs/<row>/seed<s>/ (params/, results.json, predictions_*.csv): every run
serves with scripts/recommend.py. A rerun on the same workdir resumes
(finished rows are read back); --overwrite starts over. Prints table.md.
A transfer table (configs/tables/transfer.py) trains its source table in
W/source first.
"""

from absl import flags
from ml_collections import config_flags

from metarec_jax.core import cli, compile_cache, workdir
from metarec_jax.experiments import coldstart, tables, transfer

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where the table and runs go.")
flags.DEFINE_bool("overwrite", False, "Remove the workdir's runs and table "
                  "first instead of resuming.")
flags.mark_flags_as_required(["config", "workdir"])
OUTPUTS = ("runs", "table.json", "table.md", "timing.json", "curve.json",
           "curve.png", "source", "residual_base.json")


def main(argv):
  del argv
  compile_cache.enable()
  with workdir.claim(FLAGS.workdir, FLAGS.overwrite, finished=None,
                     outputs=OUTPUTS):
    run = transfer.reproduce if FLAGS.config.get("source") else (
        coldstart.reproduce)
    table = run(FLAGS.config, FLAGS.workdir)
  print(tables.render_markdown(table))


if __name__ == "__main__":
  cli.run(main)
