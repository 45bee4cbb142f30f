"""A meta-step that reads only its batch's rows of the feature tables.

Methods embed through the tables: models/embeddings.py computes every user's
and every item's vector, then tasks gather rows. For MovieLens' 1.7K-3.7K
items that is the cheap way (one gather, one scatter-add). For a catalogue
of 73,469 books (Book-Crossing) the step spent most of its time embedding
and scattering gradients for items no task of the batch reads: 745.6 ms per
step of the global model against 72.8 ms on ML-100K.

restrict() hands the step tables with one row per task user and per item
slot of the batch ([T] users, [T * (S + Q)] items) and the batch's indices
as positions in them. Every row holds the same feature indices as before,
so a method computes the same vectors and its parameters get the same
gradients; only the order in which a shared row's gradient terms are summed
changes (float rounding). No method knows: the step does it
(config.batch_rows), and evaluation keeps the full tables.
"""

import jax
import jax.numpy as jnp

from metarec_jax.core.types import TaskBatch

# Table entries indexed by the dense item index along their first axis.
ITEM_KEYS = ("item", "item_id", "item_text", "item_tokens", "item_token_mask",
             "item_token_states", "item_mean", "item_count")
USER_KEYS = ("user",)
# Entries that are not per-row (the frozen text encoder's weights, the
# global mean).
SHARED_KEYS = ("text_encoder", "global_mean")


def restrict(tables: dict, batch: TaskBatch) -> tuple[dict, TaskBatch]:
  """(tables, batch) -> (the batch's rows of the tables, batch re-indexed).

  Padded slots (index 0) gather row 0 like before; their mask keeps them
  out of every loss.
  """
  unknown = sorted(set(tables) - set(ITEM_KEYS + USER_KEYS + SHARED_KEYS))
  if unknown:  # A new table must say which axis it is indexed by.
    raise ValueError(f"batch_rows.restrict: unknown table(s) {unknown}; "
                     "add them to ITEM_KEYS, USER_KEYS or SHARED_KEYS")
  t, s = batch.support_items.shape
  q = batch.query_items.shape[1]
  items = jnp.concatenate([batch.support_items.reshape(-1),
                           batch.query_items.reshape(-1)])
  rows = lambda idx: lambda x: jnp.asarray(x)[idx]
  out = dict(tables)
  for k in ITEM_KEYS:
    if k in tables:
      out[k] = jax.tree.map(rows(items), tables[k])
  for k in USER_KEYS:
    out[k] = jax.tree.map(rows(batch.user), tables[k])
  pos = jnp.arange(t * (s + q), dtype=batch.support_items.dtype)
  return out, batch.replace(
      user=jnp.arange(t, dtype=batch.user.dtype),
      support_items=pos[:t * s].reshape(t, s),
      query_items=pos[t * s:].reshape(t, q))
