"""Adapting embedding tables through the rows one task reads.

MAML adapts every parameter, the feature-embedding tables included. A task's
loss reads only its own rows (its user's, its S + Q items' and their
genres', actors', ... rows), so the inner gradient is zero everywhere else,
but differentiating with respect to the whole table still builds a dense
[vocab, dim] gradient and a per-task copy of every table at every inner
step: on ML-1M ~13,000 rows per task against ~2,600 it can read, and with a
user's own catalogue of 100k items, gigabytes per meta-batch.

localize() swaps each table for the unique rows the task indexes and the
task's index arrays for positions in those rows. Plain gradient steps on
the local rows give exactly the rows that steps on the full table would
(untouched rows never move, and a row read several times, e.g. an actor of
two items, is one local row that receives the summed gradient); the
meta-gradient flows back to the full table through the gather.

The embedder module checks its tables' shapes against its vocabulary sizes,
so the local rows go with a clone of it sized to them (local_embedder).

Row 0 of every table is padding ("no value"; for item ids the shared
unknown-item vector): it is always local row 0, so `idx > 0` masks and
`table[0]` lookups mean the same before and after.
"""

import jax.numpy as jnp


def _local(table, idx):
  """table [V, d], idx [...] -> (rows [min(V, 1 + idx.size), d], local idx
  [...])."""
  idx = jnp.asarray(idx)
  flat = jnp.concatenate([jnp.zeros((1,), idx.dtype), idx.reshape(-1)])
  # size= keeps the shape static (no more distinct rows than either bound);
  # extra slots repeat row 0 and are read by no index: they get no gradient.
  rows, inverse = jnp.unique(flat, size=min(flat.size, table.shape[0]),
                             fill_value=0, return_inverse=True)
  return table[rows], inverse.reshape(-1)[1:].reshape(idx.shape)


def localize(embed_params: dict, task_tables: dict) -> tuple[dict, dict]:
  """(embedder params, one task's feature rows) -> the same, made local.

  task_tables is gradient.task_tables' output: {"user": {k: [1, m]},
  "item": {k: [n, m]}, "item_id": [n], ...}. Parameters that are not an
  index table (e.g. the text projection) pass through unchanged.
  """
  params, tables = dict(embed_params), dict(task_tables)
  for side in ("user", "item"):
    tables[side] = dict(task_tables[side])
    for k, idx in task_tables[side].items():
      name = f"{side}_{k}"
      if name in params:
        rows, tables[side][k] = _local(params[name]["embedding"], idx)
        params[name] = {**params[name], "embedding": rows}
  if "item_id" in params:
    params["item_id"], tables["item_id"] = _local(params["item_id"],
                                                  task_tables["item_id"])
  return params, tables


def local_embedder(embedder, params: dict):
  """The embedder module with vocabulary sizes of localize()'s params."""
  size = lambda name: params[name]["embedding"].shape[0] - 1
  return embedder.clone(
      user_fields=tuple((k, size(f"user_{k}")) for k, _ in
                        embedder.user_fields),
      item_fields=tuple((k, size(f"item_{k}")) for k, _ in
                        embedder.item_fields),
      num_item_ids=(params["item_id"].shape[0] - 1 if embedder.num_item_ids
                    else 0))
