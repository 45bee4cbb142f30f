"""Adapting embedding tables through the rows one task reads.

MAML adapts every parameter, the feature-embedding tables included. A task's
loss reads only its own rows (its user's, its S + Q items' and their
genres', actors', ... rows), so the inner gradient is zero everywhere else,
but differentiating with respect to the whole table still builds a dense
[vocab, dim] gradient and a per-task copy of every table at every inner
step: on ML-1M ~13,000 rows per task against ~2,600 it can read, and with a
user's own catalogue of 100k items, gigabytes per meta-batch.

localize() swaps each table for the unique rows a task's support indexes and
the support's index arrays for positions in those rows. Plain gradient steps
on the local rows give exactly the rows that steps on the full table would
(untouched rows never move, and a row read several times, e.g. an actor of
two items, is one local row that receives the summed gradient); the
meta-gradient flows back to the full table through the gather. lookup()
then serves the query: a row the support read comes from the adapted local
rows, any other from the global table, which is what it would still be.

The embedder module checks its tables' shapes against its vocabulary sizes,
so the local rows go with a clone of it sized to them (local_embedder).

Row 0 of every table is padding ("no value"; for item ids the shared
unknown-item vector): it is always local row 0, so `idx > 0` masks and
`table[0]` lookups mean the same before and after.
"""

import contextlib

import jax
import jax.numpy as jnp

# None: _local_position chooses its way by size. positions_by() forces one,
# so a benchmark can time both ways on the same batch (read at trace time).
_FORCED_WAY = None


def _local(table, idx):
  """table [V, d], idx [...] -> (rows [R, d], local idx [...], row ids [R]),
  R = min(V, 1 + idx.size)."""
  idx = jnp.asarray(idx)
  flat = jnp.concatenate([jnp.zeros((1,), idx.dtype), idx.reshape(-1)])
  # size= keeps the shape static (no more distinct rows than either bound);
  # extra slots repeat row 0 and are read by no index: they get no gradient.
  ids, inverse = jnp.unique(flat, size=min(flat.size, table.shape[0]),
                            fill_value=0, return_inverse=True)
  return table[ids], inverse.reshape(-1)[1:].reshape(idx.shape), ids


def _tables_of(params: dict, task_tables: dict):
  """(param name, side, field) of every index table present in params."""
  for side in ("user", "item"):
    for k in task_tables[side]:
      if f"{side}_{k}" in params:
        yield f"{side}_{k}", side, k


def localize(embed_params: dict, task_tables: dict):
  """(embedder params, one task's feature rows) -> the same made local, and
  the global row id of every local row ({param name: ids [R]}).

  task_tables is maml.task_tables' output: {"user": {k: [1, m]}, "item":
  {k: [n, m]}, "item_id": [n], ...}. Parameters that are not an index table
  (e.g. the text projection) pass through unchanged.
  """
  params, tables, row_ids = dict(embed_params), dict(task_tables), {}
  tables["user"], tables["item"] = (dict(task_tables["user"]),
                                    dict(task_tables["item"]))
  for name, side, k in _tables_of(params, task_tables):
    rows, tables[side][k], row_ids[name] = _local(
        params[name]["embedding"], task_tables[side][k])
    params[name] = {**params[name], "embedding": rows}
  if "item_id" in params:
    params["item_id"], tables["item_id"], row_ids["item_id"] = _local(
        params["item_id"], task_tables["item_id"])
  return params, tables, row_ids


def _local_position(ids, flat, vocab: int, by_map: bool | None = None):
  """[n]: for each global id in flat, the first j with ids[j] == it, or
  R = ids.size where none does.

  Two exact ways to the same integers, chosen by size: comparing every
  entry with every local row ([n, R]) is cheapest for a meta-batch's few
  query items; scoring a catalogue chunk (n = 2048 items x their field
  values against R ~ 100-400 rows) made that compare and its argmax ~90%
  of a full-adaptation method's catalogue time on ML-1M, where a map of
  the vocabulary ([V], the smallest j per id by a scatter-min) is about 8x
  faster (scripts/catalogue_speed.py: 2.2 s -> 0.27 s per 32 users).
  by_map: None chooses by size.
  """
  r = ids.shape[0]
  if by_map is None:
    by_map = flat.size * r > vocab
  if not by_map:
    match = flat[:, None] == ids[None, :]  # [n, R]
    return jnp.where(match.any(-1), jnp.argmax(match, -1), r)
  first = jnp.full((vocab,), r, jnp.int32).at[ids].min(
      jnp.arange(r, dtype=jnp.int32))
  return first[flat]


@contextlib.contextmanager
def positions_by(by_map: bool | None):
  """Within: every trace finds local positions one way (True: the
  vocabulary map, False: the compare), whatever the sizes. JAX reuses a
  function's trace for the same shapes, so its caches are cleared on the
  way in and out (for benchmarks and tests: everything compiles again)."""
  global _FORCED_WAY
  before, _FORCED_WAY = _FORCED_WAY, by_map
  jax.clear_caches()
  try:
    yield
  finally:
    _FORCED_WAY = before
    jax.clear_caches()


def _patch(table, local, ids, idx):
  """The rows idx reads: local[j] where ids[j] == idx (adapted), else
  table[idx] (a row the support never read, so never moved).

  Returns (rows [R + n, d], local idx [...]): the local rows, then the
  global rows of idx's n entries, and for each entry its position there.
  """
  flat = jnp.asarray(idx).reshape(-1)
  r = local.shape[0]
  pos = _local_position(ids, flat, table.shape[0], _FORCED_WAY)
  pos = jnp.where(pos < r, pos, r + jnp.arange(flat.size))
  return jnp.concatenate([local, table[flat]]), pos.reshape(jnp.shape(idx))


def lookup(embed_params: dict, adapted: dict, row_ids, task_tables: dict):
  """The rows a query reads after a support was adapted locally.

  embed_params: the global (meta-learned) embedder params; adapted, row_ids:
  localize()'s params after the inner loop and its row ids (None: adapted
  holds full tables, as in the reference the tests compare against);
  task_tables: the query items' rows. Returns (params, tables) for
  local_embedder, exactly as if the full tables had been adapted.
  """
  if row_ids is None:
    return adapted, task_tables
  params, tables = dict(adapted), dict(task_tables)
  tables["user"], tables["item"] = (dict(task_tables["user"]),
                                    dict(task_tables["item"]))
  for name, side, k in _tables_of(params, task_tables):
    rows, tables[side][k] = _patch(embed_params[name]["embedding"],
                                   adapted[name]["embedding"], row_ids[name],
                                   task_tables[side][k])
    params[name] = {**adapted[name], "embedding": rows}
  if "item_id" in params:
    params["item_id"], tables["item_id"] = _patch(
        embed_params["item_id"], adapted["item_id"], row_ids["item_id"],
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
