"""Feature embeddings: the globally learned, never-adapted part of a model.

A categorical field with several values per entity (genres, actors) is the
mean of its values' embeddings, MeLU's averaged multi-hot. Every user's and
every item's vector is computed once per step from the feature tables (a few
thousand rows), and tasks gather rows of the result: one gather per task and
one scatter-add in the backward pass, instead of one per field per task.
"""

from typing import Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class FieldEmbed(nn.Module):
  """Mean embedding of the non-zero (1-based) indices in the last axis."""
  vocab_size: int
  dim: int

  @nn.compact
  def __call__(self, idx: Array) -> Array:
    table = self.param("embedding", nn.initializers.normal(0.1),
                       (self.vocab_size + 1, self.dim))
    mask = (idx > 0).astype(table.dtype)[..., None]
    summed = (table[idx] * mask).sum(-2)
    return summed / jnp.maximum(mask.sum(-2), 1.0)


@flax.struct.dataclass
class Embedded:
  """users [U, du]; items [I, di]; ids [I, d] item-id vectors (new items
  hold the unknown vector) or None; unknown [d] or None."""
  users: Array
  items: Array
  ids: Array | None
  unknown: Array | None


class Embedder(nn.Module):
  """Feature tables -> a vector for every user and every item.

  Attributes:
    user_fields, item_fields: ((name, vocab_size), ...), sorted by name.
    dim: embedding size of each field.
    num_item_ids: if > 0, also embed existing items' ids; id 0 is the shared
      unknown-item vector that new items get.
    text_dim: if > 0, tables["item_text"] [I, hidden] (frozen sentence
      embeddings) is projected by a learned Dense to text_dim and appended to
      each item's vector: new items get it from their text alone.
  """
  user_fields: Sequence[tuple]
  item_fields: Sequence[tuple]
  dim: int = 32
  num_item_ids: int = 0
  text_dim: int = 0

  @nn.compact
  def __call__(self, tables: dict) -> Embedded:
    parts = [FieldEmbed(v, self.dim, name=f"item_{k}")(jnp.asarray(
        tables["item"][k])) for k, v in self.item_fields]
    if self.text_dim:
      parts.append(nn.Dense(self.text_dim, name="item_text_proj")(
          jnp.asarray(tables["item_text"])))
    if not parts:  # Ids alone (num_item_ids) would leave new items blank.
      raise ValueError("the item vector needs a feature field or item text "
                       "(data.item_fields is empty and no text_dim)")
    items = jnp.concatenate(parts, -1)
    users = jnp.concatenate(
        [FieldEmbed(v, self.dim, name=f"user_{k}")(jnp.asarray(
            tables["user"][k])) for k, v in self.user_fields], -1)
    ids = unknown = None
    if self.num_item_ids:
      table = self.param("item_id", nn.initializers.normal(0.1),
                         (self.num_item_ids + 1, self.dim))
      ids, unknown = table[jnp.asarray(tables["item_id"])], table[0]
    return Embedded(users, items, ids, unknown)


def task_inputs(emb: Embedded, user: Array, items: Array,
                drop_ids: Array | None = None) -> Array:
  """One task's model inputs: user [], items [n] -> x [n, d].

  drop_ids [n] (bool), if given, replaces those items' id vectors with the
  unknown-item vector: the training signal for that vector.
  """
  parts = [emb.items[items]]
  if emb.ids is not None:
    ids = emb.ids[items]
    if drop_ids is not None:
      ids = jnp.where(drop_ids[:, None], emb.unknown[None, :], ids)
    parts.append(ids)
  user_vec = emb.users[user]
  parts.append(jnp.broadcast_to(user_vec, (items.shape[0],) + user_vec.shape))
  return jnp.concatenate(parts, -1)
