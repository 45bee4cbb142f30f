r"""Trains any registered method, selects on validation users, evaluates the
four cold-start scenarios, and prints the table with the floors beside it.

  python scripts/main.py --config=configs/selected.py:ml100k --workdir=W
  python scripts/main.py --config=configs/melu.py:ml100k \
    --config.method=mamo --config.model.residual=True --workdir=W

Writes results.json, predictions_<scenario>.csv, split.json, timing.json,
params/ (what scripts/recommend.py serves), checkpoints/ (a rerun resumes)
and tensorboard/ into --workdir.
"""

from absl import flags
from ml_collections import config_flags

from metarec_jax.core import cli, compile_cache, workdir
from metarec_jax.experiments import report
from metarec_jax.train import experiment, sharding

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where results and checkpoints go.")
flags.DEFINE_bool("overwrite", False,
                  "Remove what a run left in --workdir (finished or not) and "
                  "train from step 0.")
flags.DEFINE_bool("distributed", False,
                  "Run as one of several processes (jax.distributed): the "
                  "coordinator comes from --coordinator/--num_processes/"
                  "--process_id, or else from the cluster environment (TPU "
                  "pods, SLURM). Process 0 writes the workdir.")
flags.DEFINE_string("coordinator", "",
                    "host:port of process 0's coordinator (--distributed).")
flags.DEFINE_integer("num_processes", 0, "How many processes (--distributed).")
flags.DEFINE_integer("process_id", -1, "This process's index (--distributed).")
flags.DEFINE_integer("heartbeat_timeout", 100,
                     "Seconds before the others stop when a process stops "
                     "answering (--distributed).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  compile_cache.enable()
  if FLAGS.distributed:
    sharding.initialize_distributed(FLAGS.coordinator, FLAGS.num_processes,
                                    FLAGS.process_id, FLAGS.heartbeat_timeout)
  with workdir.claim(FLAGS.workdir, FLAGS.overwrite):
    results = experiment.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  print(report.results_table(results, FLAGS.config.method))


if __name__ == "__main__":
  cli.run(main)
