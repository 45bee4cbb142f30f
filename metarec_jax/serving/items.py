"""The served item rows: a run's catalogue plus the items added while serving.

A run's item tables have one row per item of its data. The service keeps
them padded to a capacity with free rows behind the catalogue; an item added
by `put` takes the next free row, with its features as 1-based value indices
of the run's own value vocabularies, item id 0 (the model's unknown-item
vector, what the run's new items get), the meta-training global mean as its
item mean, and its text embedding when the run reads item text. So an added
item is scored at once, by the trained model, with no retraining; the
capacity grows in steps of GROW rows (one recompile per step).

Tables are replaced, never written in place: a request holds the snapshot
it started with.
"""

import dataclasses
import re

import jax
import numpy as np

from metarec_jax.core.errors import ServingError
from metarec_jax.data import ids as ids_lib
from metarec_jax.train import batch_rows

GROW = 64
MAX_TEXT = 2000
_TITLE = re.compile(r"^(.*?) \((?:\d{4}|unknown year)\)\.")


@dataclasses.dataclass(frozen=True)
class Snapshot:
  """What a request scores against: device tables [cap rows], their host
  item tables (never written after publishing) and how many rows hold
  items (rows >= count are free and never recommended)."""
  tables: dict
  count: int
  host: dict


def _title(text: str) -> str:
  """The title part of a loader's rendered text ("Title (1995). Genres: ...")
  or the text itself (a CSV's title column)."""
  m = _TITLE.match(text)
  return m[1] if m else text.split(". Genres:")[0]


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
  pad = np.zeros((rows - len(x),) + x.shape[1:], x.dtype)
  return np.concatenate([x, pad])


class Items:
  """Ids <-> table rows of one side of the tables, display info, and the
  padded tables.

  side "item": the rated side (batch_rows.ITEM_KEYS): a run's items, or,
  in a run on item tasks, its users. side "user": the task side's rows
  (a run on item tasks: its items). raw: the dataset in the run's roles
  (its item_fields are the rated side's, user_fields the task side's);
  shown: the untransposed dataset the titles, genres and years come from,
  or None.

  Attributes:
    labels: [count] the ids as the data (or a PUT) wrote them, by row.
    info: [count] {"title", "genres", "year"} for the page and search.
    fields: {field: {value: 1-based index}} the run's value vocabularies
      (features of an added row must use them).
  """

  def __init__(self, rec, raw, shown=None, side: str = "item"):
    self.rec, self.side = rec, side
    vocab = rec.prep.items if side == "item" else rec.prep.users
    self.integer = vocab.codec.integer
    self.labels = vocab.labels(np.arange(len(vocab)))
    self.rows = {str(i): r for r, i in enumerate(self.labels)}
    values = raw.item_fields if side == "item" else raw.user_fields
    self.fields = {name: {v: n + 1 for n, v in enumerate(sorted(
        {v for vals in values[name].values() for v in vals}))}
                   for name in rec.prep.tables[side]}
    self.info = [self._info(shown, int(c)) if shown else {"title": str(i)}
                 for c, i in zip(vocab.ids, self.labels)]
    self.global_mean = float(rec.prep.floor_stats.global_mean)
    self.text_dim = (rec.tables["item_text"].shape[1]
                     if side == "item" and "item_text" in rec.tables else 0)
    keys = batch_rows.ITEM_KEYS if side == "item" else batch_rows.USER_KEYS
    self.host = {k: rec.tables[k] for k in keys if k in rec.tables}
    self.capacity = len(self.labels)
    self._grow()

  @staticmethod
  def _info(raw, code: int) -> dict:
    genres = raw.item_fields.get("genre", raw.item_fields.get("genres", {}))
    return {"title": _title(raw.item_text.get(code, "")),
            "genres": list(genres.get(code, [])),
            "year": raw.item_year.get(code)}

  def _grow(self) -> None:
    start = len(next(iter(jax.tree.leaves(self.host))))
    self.capacity += GROW
    self.host = jax.tree.map(lambda x: _pad_rows(x, self.capacity), self.host)
    if "item_mean" in self.host:  # Free rows read like an added one.
      self.host["item_mean"][start:] = self.global_mean
    self._publish()

  def _publish(self) -> None:
    tables = dict(self.rec.tables)
    tables.update(self.host)
    self.snapshot = Snapshot(jax.device_put(tables), len(self.labels),
                             self.host)

  def free_row(self) -> int:
    """The first free row (growing the tables if none is left)."""
    if len(self.labels) == self.capacity:
      self._grow()
    return len(self.labels)

  def label(self, item_id: str):
    """A new item's id as output: an int for an integer catalogue's
    integer-looking id, else the string."""
    if self.integer and ids_lib.is_canonical_int(item_id):
      return int(item_id)
    return item_id

  def row(self, item_id) -> int:
    r = self.rows.get(str(item_id))
    if r is None:
      raise ServingError(f"item_id {item_id}: not in the catalogue; add it "
                         "with PUT /v1/items/{item_id} first.")
    return r

  def feature_row(self, features: dict) -> dict:
    """{field: value or [values]} -> {field: int32 [width]} of the run's
    value indices; an unknown field or value is one error naming it."""
    out = {}
    for name, values in features.items():
      if name not in self.fields:
        raise ServingError(f"features.{name}: not an item field of this "
                           f"model; its fields are {sorted(self.fields)}.")
      values = values if isinstance(values, list) else [values]
      vocab, width = self.fields[name], self.host[self.side][name].shape[1]
      bad = [str(v) for v in values if str(v) not in vocab]
      if bad:
        shown = ", ".join(list(vocab)[:30])
        raise ServingError(f"features.{name}: unknown value(s) {bad}; known "
                           f"values: {shown}{' ...' if len(vocab) > 30 else ''}.")
      if len(values) > width:
        raise ServingError(f"features.{name}: {len(values)} values; this "
                           f"model keeps at most {width}.")
      row = np.zeros(width, np.int32)
      row[:len(values)] = [vocab[str(v)] for v in values]
      out[name] = row
    return out

  def check(self, item_id: str, features: dict, text: str) -> dict:
    """Validates a PUT; returns its feature rows (nothing changes)."""
    if not item_id.strip() or len(item_id) > 200:
      raise ServingError("item_id: must be 1..200 characters.")
    if len(text) > MAX_TEXT:
      raise ServingError(f"text: {len(text)} characters; at most {MAX_TEXT}.")
    return self.feature_row(features)

  def put(self, item_id: str, features: dict, text: str, title: str,
          embed=None) -> int:
    """Adds or updates an item; returns its row. embed: texts -> [n, h]
    (the run's text encoder) for a run that reads item text."""
    rows = self.check(item_id, features, text)
    if "item_tokens" in self.host:
      raise ServingError("this run fine-tunes its text encoder on item "
                         "tokens (a _lora row); it cannot add items.")
    # Copy on write: a published snapshot may share these buffers.
    self.host = jax.tree.map(np.array, self.host)
    row = self.rows.get(item_id)
    if row is None:
      if len(self.labels) == self.capacity:
        self._grow()
      row = len(self.labels)
      self.labels.append(self.label(item_id))
      self.rows[item_id] = row
      self.info.append({})
    for name, table in self.host[self.side].items():
      table[row] = rows.get(name, np.zeros(table.shape[1], np.int32))
    if self.text_dim and embed is not None:
      self.host["item_text"][row] = np.asarray(embed([text]))[0]
    genres = next((features[k] for k in ("genre", "genres")
                   if k in features), [])
    self.info[row] = {"title": title or text or str(item_id),
                      "genres": genres if isinstance(genres, list)
                      else [genres], "year": None}
    self._publish()
    return row

  def search(self, query: str, limit: int) -> list:
    """Rows whose title contains query (case-insensitive), catalogue order."""
    q = query.lower()
    hits = (r for r, info in enumerate(self.info)
            if q in info["title"].lower())
    return [r for r, _ in zip(hits, range(limit))]

  def describe(self, row: int) -> dict:
    return {"item_id": self.labels[row], **self.info[row]}
