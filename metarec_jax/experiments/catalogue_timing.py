"""Catalogue ranking of one batch of users, timed both ways of finding a
chunk's rows among a support's adapted local rows (meta/local_rows.py).

Full-adaptation methods (maml, fomaml) adapt the embedding rows a support
reads; scoring a catalogue chunk looks each of its items' field values up
among those rows. The compare ([n, R]) and the vocabulary map ([V]) give the
same positions; this times catalogue.method_scores with each forced, on the
same batch and randomly initialised parameters, and compares the scores.
A method with no local rows traces neither way: its two timings are the
same program's.
"""

import time

import jax
import numpy as np

from metarec_jax.data import batching
from metarec_jax.evaluation import catalogue, predict
from metarec_jax.experiments import coldstart
from metarec_jax.meta import base, local_rows, registry

WAYS = {"compare": False, "vocabulary_map": True}


def _timed(fn, repeats: int) -> tuple:
  """(first call s, median of `repeats` later calls s, last output)."""
  if repeats < 1:
    raise ValueError(f"repeats={repeats}: at least 1 timed call per way")
  t = time.time()
  out = fn()
  first = time.time() - t
  walls = []
  for _ in range(repeats):
    t = time.time()
    out = fn()
    walls.append(time.time() - t)
  return first, float(np.median(walls)), out


def time_method(config, prep, name: str, scenario: str, users: int,
                item_chunk: int, repeats: int) -> dict:
  """Seconds to score the scenario's catalogue for its first batch of
  `users` users, each way, and the largest score difference between them."""
  c = coldstart.method_config(config, name)
  method = registry.build(c, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  params = method.init(jax.random.PRNGKey(0), tables)
  hparams = base.hparams(c)
  tasks, items = prep.test_tasks(scenario), catalogue.pool(prep, scenario)
  size, idx = next(iter(batching.plan_batches(tasks, users, c.data.buckets)))
  batch = batching.pad_tasks(tasks, idx, size, users)
  out, scores = {"users": len(idx), "support_size": int(size),
                 "catalogue_items": int(len(items)),
                 "item_chunk": item_chunk}, {}
  for way, by_map in WAYS.items():
    with local_rows.positions_by(by_map):
      predict.jitted_parts.cache_clear()  # Trace again, this way.
      first, steady, scores[way] = _timed(
          lambda: catalogue.method_scores(method, params, tables, hparams,
                                          batch, len(idx), items,
                                          item_chunk), repeats)
    out[way] = {"first_call_s": first, "steady_s": steady}
  predict.jitted_parts.cache_clear()
  out["max_abs_diff"] = float(np.abs(scores["compare"]
                                     - scores["vocabulary_map"]).max())
  out["speedup"] = out["compare"]["steady_s"] / out["vocabulary_map"][
      "steady_s"]
  return out
