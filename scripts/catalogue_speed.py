r"""Times catalogue ranking of full-adaptation methods, both ways of finding
a chunk's rows among the adapted local rows (see
metarec_jax/experiments/catalogue_timing.py), on one batch of users.

  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/catalogue_speed.py \
    --config=configs/tables/coldstart.py:ml1m,text \
    --methods=fomaml,maml --out=results/catalogue_speed_cpu.json

Prints and writes, per method: the first call (compile and run: the
persistent compilation cache is left off here) and the median of
--repeats later calls each way, their ratio, and the largest difference
between the two ways' scores (they should be equal).
"""

import os
import time

from absl import flags
import jax
from ml_collections import config_flags

from metarec_jax.core import cli, io
from metarec_jax.data import pipeline
from metarec_jax.experiments import catalogue_timing

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_list("methods", ["fomaml", "maml"], "Method keys.")
flags.DEFINE_string("scenario", "user_cold", "Test scenario whose catalogue "
                    "is ranked.")
flags.DEFINE_integer("users", 32, "Users in the batch (the table's "
                     "catalogue batch).")
flags.DEFINE_integer("item_chunk", 2048, "Catalogue items scored per call.")
flags.DEFINE_integer("repeats", 3, "Timed calls after the first, per way.",
                     lower_bound=1)
flags.DEFINE_string("out", "", "Optional JSON output path.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  config = FLAGS.config
  prep = pipeline.prepare(config.data, config.seeds[0])
  out = {"dataset": config.data.name, "backend": jax.default_backend(),
         "cpus": os.cpu_count(), "scenario": FLAGS.scenario,
         "seed": config.seeds[0], "repeats": FLAGS.repeats,
         "measured": time.strftime("%Y-%m-%d"), "methods": {}}
  for name in FLAGS.methods:
    r = catalogue_timing.time_method(config, prep, name, FLAGS.scenario,
                                     FLAGS.users, FLAGS.item_chunk,
                                     FLAGS.repeats)
    out["methods"][name] = r
    print(f"{name}: {r['users']} users x {r['catalogue_items']} items, "
          f"compare {r['compare']['steady_s']:.2f} s, vocabulary map "
          f"{r['vocabulary_map']['steady_s']:.2f} s ({r['speedup']:.1f}x); "
          f"largest score difference {r['max_abs_diff']:.2g}", flush=True)
  if FLAGS.out:
    io.write_json(FLAGS.out, out)


if __name__ == "__main__":
  cli.run(main)
