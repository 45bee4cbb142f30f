"""Exact explanations of a user's scores: re-adaptation, not gradients.

Ratings: leave-one-out. For a support of n ratings, the n supports that
each leave one rating out are adapted beside the full one in one batched
call of the serving path (evaluation/predict.py), so a rating's reported
change is the score the model gives after re-adapting without it, minus
the served score.

Features: ablation. Each recommended item is scored again with one of its
feature values removed (set to 0, the tables' "missing"), or its text
embedding zeroed, in one call: the tables are cut to the user's support
rows and one row per variant (train/batch_rows.restrict, as a training step
does), and a variant's row is its item's row with that value removed.
Support rows are untouched, so the adaptation is the served one. A method
that indexes its parameters by item (base.rows_from_tables False) gets no
feature explanations.
"""

import numpy as np

from metarec_jax.data import batching, pipeline
from metarec_jax.evaluation import predict
from metarec_jax.meta import base
from metarec_jax.serving import items as items_lib, versions
from metarec_jax.train import batch_rows

VARIANT_BUCKETS = (16, 64, 256, 1024)
LOO_BUCKETS = (8, 32, 128, 512)
TOP = 3


def leave_one_out(rec, model, snap, support, user_row: int,
                  targets: list) -> dict:
  """support: (rows [n], ratings [n]) as served (the newest kept) ->
  {target row: [(support position, change if left out)]}, largest |change|
  first, TOP of them."""
  rows, ys = support
  n = len(rows)
  if n == 0:
    return {t: [] for t in targets}
  keep = [np.arange(n) != i for i in range(n)]
  supports = [(rows, ys)] + [(rows[k], ys[k]) for k in keep]
  n_items = snap.tables["item_id"].shape[0]
  # One call for the full support and every left-out one (n + 1 users).
  size = next((b for b in LOO_BUCKETS if b >= n + 1), LOO_BUCKETS[-1])
  s = versions.scores(rec, model, snap.tables, supports, [user_row] *
                      (n + 1), n_items, (size,))
  change = s[1:, targets] - s[0, targets][None, :]  # [n, len(targets)]
  out = {}
  for col, t in enumerate(targets):
    order = np.argsort(-np.abs(change[:, col]), kind="stable")[:TOP]
    out[t] = [(int(i), float(change[i, col])) for i in order]
  return out


def _variants(host: dict, targets: list, text: bool) -> list:
  """[(target row, field or "text", column)]: the target itself (column
  -1) first, then each of its non-zero feature values, then its text."""
  out = []
  for t in targets:
    out.append((t, None, -1))
    for name, table in sorted(host["item"].items()):
      out += [(t, name, c) for c in np.flatnonzero(table[t])]
    if text:
      out.append((t, "text", -1))
  return out


def ablate(rec, model, items, snap, support, user_row: int,
           targets: list) -> dict:
  """{target row: [(field, value, change if removed)]}, largest |change|
  first, TOP of them; {} for a method that indexes params by item."""
  if not base.rows_from_tables(rec.method) or not targets:
    return {}
  host = snap.host
  variants = _variants(host, targets, "item_text" in host)
  size = batching.bucket_for(len(variants), VARIANT_BUCKETS)
  b = versions.batch(rec, [support], [user_row], size)
  query = np.zeros((b.query_items.shape[0], size), np.int32)
  query[0, :len(variants)] = [t for t, _, _ in variants]
  b = b.replace(query_items=query)
  tables, b = batch_rows.restrict(snap.tables, b)
  s = b.support_items.shape[1] * b.support_items.shape[0]
  tables = dict(tables)
  tables["item"] = dict(tables["item"])
  for p, (_, name, col) in enumerate(variants):
    if name == "text":
      tables["item_text"] = tables["item_text"].at[s + p].set(0.0)
    elif name is not None:
      tables["item"][name] = tables["item"][name].at[s + p, col].set(0)
  pred = predict.predict_batch(rec.method, model.params, tables, b,
                               rec.hparams)[0]
  names = {f: {i: v for v, i in vocab.items()}
           for f, vocab in items.fields.items()}
  out = {}
  for t in targets:
    mine = [(p, v) for p, v in enumerate(variants) if v[0] == t]
    base_p = mine[0][0]
    found = []
    for p, (_, name, col) in mine[1:]:
      value = (None if name == "text"
               else names[name][int(host["item"][name][t, col])])
      found.append((name, value, float(pred[p] - pred[base_p])))
    found.sort(key=lambda f: -abs(f[2]))
    out[t] = found[:TOP]
  return out


def explain(rec, model, items, snap, support, support_ids, user_row: int,
            targets: list) -> dict:
  """{target row: {"ratings": [...], "features": [...]}} in the API's
  shape; support_ids: the support's item ids as output."""
  loo = leave_one_out(rec, model, snap, support, user_row, targets)
  abl = ablate(rec, model, items, snap, support, user_row, targets)
  ratings = support[1]
  return {t: {
      "ratings": [{"item_id": support_ids[i], "rating": float(ratings[i]),
                   "change_if_left_out": round(c, 6)} for i, c in loo[t]],
      "features": [{"field": f, "value": v, "change_if_removed": round(c, 6)}
                   for f, v, c in abl.get(t, [])]}
          for t in targets}


def explain_states(rec, states: list, tops: list) -> list:
  """scripts/recommend.py --explain: per user (a Recommender UserState and
  its top_k list), {item id: explanation}, as the service computes them
  with the run's own parameters."""
  raw = pipeline.load_raw(rec.config.data, rec.config.seed)
  items = items_lib.Items(rec, raw, raw)
  model, largest = versions.load(rec, "", 0), rec.support_buckets[-1]
  out = []
  for state, top in zip(states, tops):
    support = (rec.item_index(state.items)[-largest:],
               state.ratings[-largest:])
    targets = [int(t) for t in rec.item_index([i for i, *_ in top])]
    found = explain(rec, model, items, items.snapshot, support,
                    list(state.items[-largest:]), rec.user_index(state.user),
                    targets)
    out.append({rec.item_ids[t]: found[t] for t in targets})
  return out
