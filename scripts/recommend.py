r"""Top-k items for a new user (or many) from a trained run.

  python scripts/recommend.py --workdir=workdirs/melu_ml100k \
    --ratings=my_ratings.csv --k=10 [--format=json]
  python scripts/recommend.py --workdir=W --benchmark

--ratings: CSV `item_id,rating` (one user; a header alone: the prior) or
`user_id,item_id,rating` (several users), or JSON (see
metarec_jax/serving_io.py). Prints a table, or JSON
{"items": [{"item_id", "score"}, ...]} (batch: {"users": {id: {"items"}}}).
--benchmark prints p50/p99 latency of adapt + rank for 1 and 64 users.
Bad input exits with code 2 and one message naming the file and line.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top

from metarec_jax import cli, compile_cache, serving, serving_io

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A finished run of scripts/main.py.")
flags.DEFINE_string("ratings", None, "The user's ratings (CSV or JSON).")
flags.DEFINE_integer("k", 10, "How many items to recommend.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")
flags.DEFINE_bool("benchmark", False, "Measure latency instead.")
flags.mark_flags_as_required(["workdir"])


def _table(items) -> str:
  lines = [f"{'rank':>4}  {'item_id':>8}  {'score':>6}"]
  lines += [f"{r:>4}  {i:>8}  {s:>6.3f}" for r, (i, s) in enumerate(items, 1)]
  return "\n".join(lines)


def _json_items(items) -> dict:
  return {"items": [{"item_id": i, "score": round(s, 4)} for i, s in items]}


@cli.exit_on_bad_input
def main(argv):
  del argv
  compile_cache.enable()
  logging.set_verbosity(logging.WARNING)  # stdout is the answer; keep stderr
  if not FLAGS.benchmark and not FLAGS.ratings:
    raise serving.ServingError("--ratings=FILE is required (or --benchmark).")
  rec = serving.Recommender.load(FLAGS.workdir)
  if FLAGS.benchmark:
    print(json.dumps(serving.benchmark(rec, FLAGS.k), indent=1))
    return
  batch, users = serving_io.read(FLAGS.ratings, rec.rating_range,
                                 known_items=rec.item_ids)
  out = rec.recommend(users or {"": []}, FLAGS.k, source=FLAGS.ratings)
  if FLAGS.format == "json":
    obj = ({"users": {u: _json_items(v) for u, v in out.items()}} if batch
           else _json_items(out[""]))
    print(json.dumps(obj))
  else:
    print("\n\n".join((f"user {u}\n" if batch else "") + _table(v)
                      for u, v in out.items()))


if __name__ == "__main__":
  app.run(main)
