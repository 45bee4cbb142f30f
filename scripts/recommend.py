r"""Top-k items for a user (or many) from any trained run.

  python scripts/recommend.py --workdir=W --ratings=my_ratings.csv --k=10
  python scripts/recommend.py --workdir=TABLE/runs/finetune/seed0 \
    --ratings=my_ratings.json --k=5 --format=json
  python scripts/recommend.py --workdir=W --benchmark

--workdir: a finished scripts/main.py workdir or a table's
runs/<row>/seed<s>. --ratings: CSV `item_id,rating` (one user; a header
alone: the prior) or `user_id,item_id,rating` (several users), or JSON (see
metarec_jax/serving/ratings_input.py). --user_id: a user of the training
data, whose side features (age, gender, ...) are then used; by default the
user is new and has none. Prints a table, or JSON {"items": [{"item_id",
"score", "raw_score"}, ...]} (batch: {"users": {id: {"items"}}}): items
ranked by the model's raw score; the score is it clipped to the rating
range, as the evaluation's predictions are. --explain adds each item's
explanation (serving/explain.py; JSON: an "explanation" per item, as the
service's). --benchmark prints
p50/p99 latency of adapt + rank for 1 and 64 users. Bad input exits with
code 2 and one message naming the file and line.

A run on item tasks (--config.data.task_axis=item) answers the other way
round: --ratings holds a new item's first ratings (`user_id,rating`),
--item_id names an item of the training data (its features; default: an
item added now, without any), and the answer ranks users.
"""

import json

from absl import flags, logging

from metarec_jax.core import cli, compile_cache
from metarec_jax.core.errors import ServingError
from metarec_jax.serving import explain, latency, ratings_input, recommender

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A finished run (main.py's workdir or a "
                    "table's runs/<row>/seed<s>).")
flags.DEFINE_string("ratings", None, "The user's ratings (CSV or JSON).")
flags.DEFINE_integer("k", 10, "How many items to recommend.")
flags.DEFINE_string("user_id", None, "A user of the training data: use "
                     "their side features (one user only).")
flags.DEFINE_string("item_id", None, "Runs on item tasks: an item of the "
                    "training data whose side features to use.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")
flags.DEFINE_bool("benchmark", False, "Measure latency instead.")
flags.DEFINE_bool("explain", False, "Explain each item: the ratings whose "
                  "leaving out changes its score most, and the features "
                  "whose removal does (exact re-scoring, as the service).")
flags.mark_flags_as_required(["workdir"])


def _why(ex: dict) -> list:
  """An explanation as lines: each rating's and feature's change."""
  parts = [f"without rating {r['rating']:g} of {r['item_id']}: "
           f"{r['change_if_left_out']:+.3f}" for r in ex["ratings"]]
  parts += [f"without {'text' if f['value'] is None else f['field'] + ' ' + f['value']}"
            f": {f['change_if_removed']:+.3f}" for f in ex["features"]]
  return [f"      {p}" for p in parts]


def _table(items, rated: str, why=None) -> str:
  width = max([8] + [len(str(i)) for i, _, _ in items])
  lines = [f"{'rank':>4}  {rated + '_id':>{width}}  {'score':>6}  {'raw':>6}"]
  for r, (i, s, raw) in enumerate(items, 1):
    lines.append(f"{r:>4}  {i!s:>{width}}  {s:>6.3f}  {raw:>6.3f}")
    lines += _why(why[i]) if why else []
  return "\n".join(lines)


def _json_items(items, rated: str, why=None) -> dict:
  out = [{f"{rated}_id": i, "score": round(s, 4), "raw_score": round(raw, 4)}
         for i, s, raw in items]
  for item in out if why else []:
    item["explanation"] = why[item[f"{rated}_id"]]
  return {f"{rated}s": out}


def main(argv):
  del argv
  compile_cache.enable()
  logging.set_verbosity(logging.WARNING)  # stdout is the answer.
  if not FLAGS.benchmark and not FLAGS.ratings:
    raise ServingError("--ratings=FILE is required (or --benchmark).")
  rec = recommender.Recommender.load(FLAGS.workdir)
  if FLAGS.benchmark:
    print(json.dumps(latency.benchmark(rec, FLAGS.k), indent=1))
    return
  roles = ratings_input.roles_for(rec.prep.task_axis)
  who = FLAGS.item_id if roles.task == "item" else FLAGS.user_id
  wrong = FLAGS.user_id if roles.task == "item" else FLAGS.item_id
  if wrong is not None:
    raise ServingError(f"--{roles.rated}_id: this run's tasks are "
                       f"{roles.task}s; name one with --{roles.task}_id.")
  batch, users = ratings_input.read(FLAGS.ratings, rec.rating_range,
                                    rec.known_items, roles)
  if batch and who is not None:
    raise ServingError(f"--{roles.task}_id names one {roles.task}; the "
                       f"ratings file holds several ({roles.task}_id,"
                       f"{roles.rated}_id,rating).")
  users = users or {"": []}
  states = rec.adapt_many(list(users.values()), FLAGS.ratings,
                          [who] * len(users))
  out = {u: rec.top_k(s, FLAGS.k) for u, s in zip(users, states)}
  why = (dict(zip(users, explain.explain_states(rec, states,
                                                list(out.values()))))
         if FLAGS.explain else {})
  if FLAGS.format == "json":
    obj = {u: _json_items(v, roles.rated, why.get(u)) for u, v in out.items()}
    print(json.dumps({f"{roles.task}s": obj} if batch else obj[""]))
  else:
    print("\n\n".join((f"{roles.task} {u}\n" if batch else "")
                       + _table(v, roles.rated, why.get(u))
                       for u, v in out.items()))


if __name__ == "__main__":
  cli.run(main, config_flags=())
