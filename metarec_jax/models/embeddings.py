"""Feature embeddings: the globally learned, never-adapted part of a model.

A categorical field with several values per entity (genres, actors) is the
mean of its values' embeddings, MeLU's averaged multi-hot. Tables are plain
int arrays passed into jitted code, so a batch carries only indices.
"""

from typing import Sequence

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


class Embedder(nn.Module):
  """User and item features -> one input vector per (user, item) pair.

  Attributes:
    user_fields, item_fields: ((name, vocab_size), ...), sorted by name.
    dim: embedding size of each field.
    num_item_ids: if > 0, also embed existing items' ids; id 0 is the shared
      unknown-item vector that new items get.
  """
  user_fields: Sequence[tuple]
  item_fields: Sequence[tuple]
  dim: int = 32
  num_item_ids: int = 0

  @nn.compact
  def __call__(self, user_feats: dict, item_feats: dict,
               item_ids: Array | None = None) -> Array:
    """user_feats: name -> [w]; item_feats: name -> [n, w]; -> [n, d]."""
    items = [FieldEmbed(v, self.dim, name=f"item_{k}")(item_feats[k])
             for k, v in self.item_fields]
    if self.num_item_ids:
      items.append(nn.Embed(self.num_item_ids + 1, self.dim,
                            embedding_init=nn.initializers.normal(0.1),
                            name="item_id")(item_ids))
    users = [FieldEmbed(v, self.dim, name=f"user_{k}")(user_feats[k])
             for k, v in self.user_fields]
    n = items[0].shape[0]
    user = jnp.concatenate(users, -1)
    return jnp.concatenate(items + [jnp.broadcast_to(user, (n,) + user.shape)],
                           -1)

  @property
  def out_dim(self) -> int:
    return self.dim * (len(self.user_fields) + len(self.item_fields)
                       + (1 if self.num_item_ids else 0))


def gather_features(tables: dict, user: Array, items: Array):
  """Looks up one task's feature rows. user: [], items: [n]."""
  user_feats = {k: t[user] for k, t in tables["user"].items()}
  item_feats = {k: t[items] for k, t in tables["item"].items()}
  return user_feats, item_feats, tables["item_id"][items]
