r"""Would a known user's pool factors help on new items? (pool only)

  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/known_user_prior.py \
    --dataset=ml1m --out=results/known_user_prior_ml1m.json

Holds pseudo-new items out of each seed's meta-training pool and scores
mf_foldin's fold-in against fold-ins that read the user's pool factors
(metarec_jax/experiments/known_user_prior.py). Reads no validation or test
rating.
"""

import time

from absl import flags
from absl import logging

from configs.tables import coldstart
from metarec_jax.core import cli, io
from metarec_jax.data import pipeline
from metarec_jax.experiments import known_user_prior
from metarec_jax.train import closed_form

_DATASET = flags.DEFINE_enum("dataset", "ml1m", ["ml100k", "ml1m"],
                             "The cold-start table whose data and text.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Data seeds.")
_POINTS = flags.DEFINE_list("points", ["16:5", "64:25"],
                            "ALS rank:reg points (the tables' choices).")
_LAMS = flags.DEFINE_list("lams", ["1", "3", "10", "30"],
                          "Fold-in precisions.")
_OUT = flags.DEFINE_string("out", None, "JSON output path.")
flags.mark_flags_as_required(["out"])


def main(argv):
  del argv
  config = coldstart.get_config(f"{_DATASET.value},text")
  points = [(int(p.split(":")[0]), float(p.split(":")[1]))
            for p in _POINTS.value]
  lams = [float(x) for x in _LAMS.value]
  report = {"dataset": _DATASET.value, "seeds": {}}
  for seed in map(int, _SEEDS.value):
    t0 = time.time()
    prep = pipeline.prepare(config.data, seed)
    report["seeds"][str(seed)] = known_user_prior.run(
        prep.tables, closed_form.train_ratings(prep), seed, points, lams)
    report["seeds"][str(seed)]["wall_s"] = round(time.time() - t0, 1)
    logging.info("seed %d: %s", seed, report["seeds"][str(seed)])
    io.write_json(_OUT.value, report)  # Each seed as it finishes.
  print(known_user_prior.markdown(report))


if __name__ == "__main__":
  cli.run(main, config_flags=())
