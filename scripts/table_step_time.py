r"""Times the table's meta-step: one method's seeds, vmapped as in the table.

  METAREC_ML1M_DIR=/path/to/ml-1m python \
    scripts/table_step_time.py --config=configs/tables/coldstart.py:ml1m \
    --methods=maml,fomaml,mamo,melu,melu_fo --out=/tmp/table_steps.json

For each method: the step that reproduce_table.py runs (config.seeds
vmapped, batches from each seed's own schedule, padded to the largest
bucket among them), one warm-up call (compile), then --steps timed calls.
Prints and writes ms per step (median) and process CPU time / wall time
(how many cores the step keeps busy). Training the table's rows takes about
steps_run x this, plus validation.
"""

import os

from absl import flags
import jax
from ml_collections import config_flags

from metarec_jax.core import cli, compile_cache, io
from metarec_jax.data import pipeline
from metarec_jax.experiments import table_timing

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Table config file.",
                                lock_config=True)
flags.DEFINE_list("methods", ["maml", "melu_fo"], "Method keys.")
flags.DEFINE_integer("steps", 10, "Timed steps per method.")
flags.DEFINE_string("out", "", "Optional JSON output path.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  compile_cache.enable()
  config = FLAGS.config
  preps = {s: pipeline.prepare(config.data, s) for s in config.seeds}
  out = {"dataset": config.data.name, "backend": jax.default_backend(),
         "cpus": os.cpu_count(), "methods": {}}
  for name in FLAGS.methods:
    out["methods"][name] = table_timing.time_method(config, preps, name,
                                                    FLAGS.steps)
    r = out["methods"][name]
    print(f"{name}: {r['ms_per_step_median']:.1f} ms per step "
          f"({r['runs']} runs x {r['batch_size']} tasks), CPU/wall "
          f"{r['cpu_per_wall']:.2f}", flush=True)
  if FLAGS.out:
    io.write_json(FLAGS.out, out)


if __name__ == "__main__":
  cli.run(main)
