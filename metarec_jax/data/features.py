"""Dense indices and padded categorical feature tables.

Each field becomes an int32 table [n_entities, max_values] of 1-based value
indices, 0 where padded; the model averages the embeddings of the non-zero
entries (MeLU's multi-hot average). Value vocabularies cover every entity,
new items included: their side information is known at cold start.
"""

import dataclasses

import numpy as np

from metarec_jax.data.ids import IdCodec


@dataclasses.dataclass
class Vocab:
  """int64 id codes <-> dense indices 0..n-1, sorted by code; the codec
  (data/ids.py) turns codes back into the ids as the user gave them."""
  ids: np.ndarray
  codec: IdCodec = dataclasses.field(default_factory=IdCodec)

  @classmethod
  def build(cls, ids, codec: IdCodec = None) -> "Vocab":
    return cls(np.unique(np.asarray(ids, dtype=np.int64)), codec or IdCodec())

  def __len__(self) -> int:
    return len(self.ids)

  def index(self, ids) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(self.ids, ids)
    pos = np.minimum(pos, len(self.ids) - 1)
    bad = self.ids[pos] != ids
    if bad.any():
      raise KeyError(f"unknown ids: {self.codec.decode(ids[bad][:10])}")
    return pos.astype(np.int32)

  def labels(self, dense) -> list:
    """Dense indices -> the ids as given (int for integer ids, else str)."""
    return self.codec.decode(self.ids[np.asarray(dense).reshape(-1)])

  def lookup(self, labels) -> np.ndarray:
    """Ids as given -> dense indices; KeyError names unknown ones."""
    return self.index(self.codec.encode(labels))


@dataclasses.dataclass
class FieldTable:
  """One categorical field: [n_entities, width] 1-based value indices."""
  values: np.ndarray
  vocab_size: int  # number of distinct values, excluding the 0 pad
  # The value behind each index (names[k - 1] for index k): what lets
  # another dataset's embedding rows be matched by value (train/init_from).
  names: tuple = ()


def build_table(field: dict, vocab: Vocab, max_width: int = 0) -> FieldTable:
  """Encodes {original id: [values]} for the entities of `vocab`."""
  names = sorted({v for vals in field.values() for v in vals})
  value_index = {name: i + 1 for i, name in enumerate(names)}
  rows = [field.get(int(i), []) for i in vocab.ids]
  width = max(1, max((len(r) for r in rows), default=1))
  if max_width:
    width = min(width, max_width)
  table = np.zeros((len(vocab), width), np.int32)
  for r, vals in enumerate(rows):
    for c, v in enumerate(vals[:width]):
      table[r, c] = value_index[v]
  return FieldTable(table, len(names), tuple(str(n) for n in names))


def build_tables(fields: dict, vocab: Vocab, max_width: int = 0) -> dict:
  return {name: build_table(f, vocab, max_width)
          for name, f in sorted(fields.items())}
