r"""Adds precision/recall and catalogue ranking to finished runs, in place.

  python scripts/add_metrics.py --workdir=workdirs/table_ml100k
  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/add_metrics.py \
    --workdir=workdirs/table_ml1m --catalogue=false   # precision/recall only

--workdir is a run (scripts/main.py's workdir) or a table workdir (its
runs/<row>/seed<s>/). Recomputes precision@k and recall@k from each run's
predictions CSVs (checking they give the stored MAE, RMSE and nDCG),
computes catalogue ranking from its saved parameters and the floors' new
metrics, and rewrites results.json (metarec_jax/experiments/add_metrics.py).
Nothing is retrained. Regenerate a table afterwards with
scripts/results_table.py. Exit code 2 on bad input.
"""

from absl import flags

from metarec_jax.core import cli, compile_cache
from metarec_jax.experiments import add_metrics

_WORKDIR = flags.DEFINE_string("workdir", None, "A run or a table workdir.")
_CATALOGUE = flags.DEFINE_bool("catalogue", True, "Also catalogue ranking "
                               "(runs the model; precision/recall only read "
                               "the CSVs).")
_FORCE = flags.DEFINE_bool("force", False, "Recompute catalogue ranking of "
                           "runs that already have it.")
_ROWS = flags.DEFINE_list("rows", None, "Only these rows (default: all).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  compile_cache.enable()
  done = add_metrics.upgrade(_WORKDIR.value, _CATALOGUE.value, _FORCE.value,
                             _ROWS.value)
  for info in done:
    print(f"{info['run']}: {info['wall_s']:.1f}s (catalogue "
          f"{info['catalogue_s']}s)")


if __name__ == "__main__":
  cli.run(main, config_flags=())
