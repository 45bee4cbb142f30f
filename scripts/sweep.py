r"""Sweeps one method's hyperparameters; selects on validation users only.

  python scripts/sweep.py --config=configs/tables/coldstart.py:ml100k \
    --method=fomaml --workdir=W

The grid is config.sweep (override e.g. --config.sweep.inner_lr="(0.05,
0.1)"). Traced floats are vmapped in one computation per static group.
Writes W/sweep.json (every configuration's validation MAE; docs/results.md
keeps the committed ones). Tables do not reuse a sweep's choice: they choose
per seed (config.grid). A rerun on the same workdir resumes; a finished sweep is
swept again only with --overwrite.
"""

import json

from absl import flags
from ml_collections import config_flags

from metarec_jax.core import cli, compile_cache, workdir
from metarec_jax.experiments import sweep

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_string("method", None, "Method name (metarec_jax/meta/"
                    "registry.py).")
flags.DEFINE_string("workdir", None, "Where sweep.json goes.")
flags.DEFINE_bool("overwrite", False, "Sweep again over a finished sweep.")
flags.mark_flags_as_required(["config", "method", "workdir"])


def main(argv):
  del argv
  compile_cache.enable()
  with workdir.claim(FLAGS.workdir, FLAGS.overwrite, finished="sweep.json",
                     outputs=("sweep.json", "runs", "groups")):
    out = sweep.run_sweep(FLAGS.config, FLAGS.method, FLAGS.workdir)
  print(json.dumps({"best": out["best"], "override": out["override"]},
                   indent=1))


if __name__ == "__main__":
  cli.run(main)
