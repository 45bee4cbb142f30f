"""Your own data: a ratings CSV plus optional user and item feature tables.

  ratings.csv  user_id,item_id,rating[,timestamp]   (header required)
  users.csv    user_id,<categorical columns...>
  items.csv    item_id,<columns...>: `genres` is `|`-separated tags, `year`
               an integer, `title` / `text` are text (not categories), any
               other column one category.

Ids are any non-empty strings (`034545104X`, a UUID); integer ids stay
integers (data/ids.py) and every id is written back as given. The delimiter
and encoding are `data.delimiter` (`,`) and `data.encoding` (UTF-8). Every
problem is a `DataError` naming the file, the line and what to do; nothing
is read past the first problem. New items (the
item-cold scenarios) are the newest `new_item_fraction` of the rated items by
`year` when items.csv has it, else by first-rating `timestamp`, else a seeded
random share.
"""

import csv
import hashlib
import io
import math
import os

import numpy as np

from metarec_jax.core.errors import DataError
from metarec_jax.data.ids import IdCodec
from metarec_jax.data.sources import Ratings, RawData

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
TEXT_COLUMNS = ("title", "text")


def check_width(path, line: int, row, header, truncated_last: bool) -> None:
  """Raises DataError when a CSV row has the wrong number of columns."""
  if len(row) != len(header):
    hint = (" The file ends without a newline: the last line looks "
            "truncated; complete or delete it." if truncated_last
            else " Fix or delete this line.")
    raise DataError(f"{path}:{line}: expected {len(header)} columns "
                    f"({','.join(header)}), found {len(row)}.{hint}")


def _read_text(path: str, what: str, config_field: str,
               encoding: str = "utf-8") -> str:
  if not os.path.isfile(path):
    optional = " or leave it empty" if config_field != "ratings" else ""
    raise DataError(f"{path}: no such file (given by --config.data."
                    f"{config_field}); fix the path{optional}.")
  with open(path, "rb") as f:
    data = f.read()
  # utf-8-sig: a byte-order mark some editors write is not part of a header.
  codec = "utf-8-sig" if encoding.lower().replace("_", "-") in (
      "utf-8", "utf8") else encoding
  try:
    text = data.decode(codec)
  except LookupError:
    raise DataError(f"--config.data.encoding={encoding!r}: unknown encoding; "
                    "e.g. utf-8, latin-1, cp1252.") from None
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    name = "UTF-8" if codec == "utf-8-sig" else encoding
    raise DataError(f"{path}:{line}: invalid {name} (byte "
                    f"{data[e.start]:#x} at offset {e.start}); re-save the "
                    "file as UTF-8 or pass its encoding, e.g. "
                    "--config.data.encoding=latin-1.") from None
  if not text.strip():
    raise DataError(f"{path}:1: the file is empty; the first line must be "
                    f"a header ({what}).")
  return text


def _rows(path: str, text: str, required: tuple, allowed=None,
          delimiter: str = ","):
  """Yields (line, {column: value}) after checking the header and counts."""
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
  header = [h.strip() for h in next(reader)]
  missing = [c for c in required if c not in header]
  if missing:
    raise DataError(f"{path}:1: header {','.join(header)!r} lacks "
                    f"{', '.join(missing)}; the first line must name the "
                    f"columns, e.g. {delimiter.join(required)} (columns "
                    f"separated by {delimiter!r}: --config.data.delimiter)."
                    )
  if allowed is not None:
    extra = [c for c in header if c not in allowed]
    if extra:
      raise DataError(f"{path}:1: unknown column(s) {', '.join(extra)}; "
                      f"allowed: {','.join(allowed)}.")
  truncated = not text.endswith(("\n", "\r"))
  last = len(text.splitlines())
  n_rows = 0
  for row in reader:
    line = reader.line_num
    if not any(v.strip() for v in row):
      continue
    check_width(path, line, row, header, truncated and line == last)
    n_rows += 1
    yield line, dict(zip(header, (v.strip() for v in row)))
  if not n_rows:
    raise DataError(f"{path}:1: only a header, no data rows; add at least "
                    "one row below it.")


def _int(path, line, value, column):
  try:
    return int(value)
  except ValueError:
    raise DataError(f"{path}:{line}: {column} {value!r} is not an integer; "
                    "timestamps and years must be whole numbers.") from None


def _id(path, line, value, column) -> str:
  if not value:
    raise DataError(f"{path}:{line}: empty {column}; every row needs one.")
  return value


def _number(path, line, value, column, lo=None, hi=None):
  try:
    x = float(value)
  except ValueError:
    raise DataError(f"{path}:{line}: {column} {value!r} is not a number; "
                    "fix or delete this line.") from None
  if not math.isfinite(x):
    raise DataError(f"{path}:{line}: {column} is {value!r}, not a finite "
                    "number; fix or delete this line.")
  if lo is not None and not lo <= x <= hi:
    raise DataError(f"{path}:{line}: {column} {x:g} is outside {lo:g}..{hi:g}"
                    "; fix the line or set --config.data.min_rating / "
                    "--config.data.max_rating.")
  return x


def read_ratings(path: str, lo: float, hi: float, delimiter: str = ",",
                 encoding: str = "utf-8"):
  """Returns ([user id], [item id], float32 ratings, timestamps or None),
  ids as the strings given."""
  text = _read_text(path, "user_id,item_id,rating[,timestamp]", "ratings",
                    encoding)
  users, items, ratings, stamps, seen = [], [], [], [], {}
  for line, row in _rows(path, text, RATING_COLUMNS[:3], RATING_COLUMNS,
                         delimiter):
    u = _id(path, line, row["user_id"], "user_id")
    i = _id(path, line, row["item_id"], "item_id")
    if (u, i) in seen:
      raise DataError(f"{path}:{line}: user {u} rated item {i} again (first "
                      f"at line {seen[u, i]}); keep one rating per pair.")
    seen[u, i] = line
    users.append(u)
    items.append(i)
    ratings.append(_number(path, line, row["rating"], "rating", lo, hi))
    if "timestamp" in row:
      stamps.append(_int(path, line, row["timestamp"], "timestamp"))
  return (users, items, np.asarray(ratings, np.float32),
          np.array(stamps, np.int64) if stamps else None)


def read_table(path: str, key: str, config_field: str, delimiter: str = ",",
               encoding: str = "utf-8"):
  """Returns ({field: {id: [values]}}, {id: year}, {id: text}), ids as the
  strings given."""
  text = _read_text(path, f"{key},<feature columns>", config_field, encoding)
  fields, years, texts, seen = {}, {}, {}, {}
  for line, row in _rows(path, text, (key,), delimiter=delimiter):
    eid = _id(path, line, row.pop(key), key)
    if eid in seen:
      raise DataError(f"{path}:{line}: {key} {eid} appears again (first at "
                      f"line {seen[eid]}); keep one row per {key}.")
    seen[eid] = line
    words = [row.pop(c) for c in TEXT_COLUMNS if row.get(c)]
    if words:
      texts[eid] = ". ".join(words)
    for column, value in row.items():
      if column == "year":
        year = _int(path, line, value, "year") if value else None
        if year is not None:
          years[eid] = year
        values = [str(year // 5 * 5) if year is not None else "unknown"]
      elif column == "genres":
        values = [g.strip() for g in value.split("|") if g.strip()]
      else:
        values = [value] if value else []
      fields.setdefault(column, {})[eid] = values
  return fields, years, texts


def newest(items: np.ndarray, key: dict, fraction: float) -> np.ndarray:
  """The round(fraction * n) items with the largest key; ties: larger id."""
  n_new = max(1, int(round(fraction * len(items))))
  known = np.array([i for i in items if i in key], np.int64)
  order = np.lexsort((known, [key[int(i)] for i in known]))[::-1]
  return np.sort(known[order[:n_new]])


def choose_new_items(r: Ratings, stamps, item_year: dict, fraction: float,
                     seed: int) -> np.ndarray:
  items = np.unique(r.item)
  if any(int(i) in item_year for i in items):
    return newest(items, item_year, fraction)
  if stamps is not None:
    first = {}
    for i, t in zip(r.item.tolist(), stamps.tolist()):
      first[i] = min(t, first.get(i, t))
    return newest(items, first, fraction)
  rng = np.random.default_rng([seed, 6])  # 6: new-item draw (scenarios 1..5).
  n_new = max(1, int(round(fraction * len(items))))
  return np.sort(rng.choice(items, size=n_new, replace=False))


def _recode(table: dict, codec: IdCodec) -> dict:
  """{id string: value} -> {int64 code: value}."""
  codes = codec.encode(list(table)) if table else []
  return {int(c): v for c, v in zip(codes, table.values())}


def load(data_config, seed: int) -> RawData:
  """config.data: ratings, users, items_file, min/max_rating, delimiter,
  encoding, new_item_fraction."""
  if not data_config.get("ratings"):
    raise DataError("config.data.ratings is empty; pass "
                    "--config.data.ratings=/path/to/ratings.csv.")
  fmt = {"delimiter": data_config.get("delimiter", ","),
         "encoding": data_config.get("encoding", "utf-8")}
  users, items, ys, stamps = read_ratings(
      data_config.ratings, data_config.min_rating, data_config.max_rating,
      **fmt)
  user_fields, item_fields, item_year, item_text = {}, {}, {}, {}
  if data_config.get("users"):
    user_fields = read_table(data_config.get("users"), "user_id", "users",
                             **fmt)[0]
  if data_config.get("items_file"):
    item_fields, item_year, item_text = read_table(
        data_config.get("items_file"), "item_id", "items_file", **fmt)
  # One codec per side over every file's ids: a table may name entities no
  # rating mentions, and integer-looking ids must agree across files.
  user_codec = IdCodec.from_strings(
      users + [u for f in user_fields.values() for u in f])
  item_codec = IdCodec.from_strings(
      items + [i for f in item_fields.values() for i in f] + list(item_year)
      + list(item_text))
  r = Ratings(user_codec.encode(users), item_codec.encode(items), ys, stamps)
  user_fields = {k: _recode(f, user_codec) for k, f in user_fields.items()}
  item_fields = {k: _recode(f, item_codec) for k, f in item_fields.items()}
  item_year = _recode(item_year, item_codec)
  item_text = _recode(item_text, item_codec)
  # A model needs at least one field per side: a constant one stands in.
  user_fields = user_fields or {"all": {int(u): ["user"] for u in
                                         np.unique(r.user)}}
  item_fields = item_fields or {"all": {int(i): ["item"] for i in
                                         np.unique(r.item)}}
  new_items = choose_new_items(r, stamps, item_year,
                               data_config.new_item_fraction, seed)
  return RawData("csv", user_fields, item_fields, item_year, item_text,
                 ratings=r, new_items=new_items, user_codec=user_codec,
                 item_codec=item_codec)


def content_digest(data_config) -> dict:
  """sha256 of each given file, so a cache keyed on it sees edited files."""
  out = {}
  for field in ("ratings", "users", "items_file"):
    path = data_config.get(field)
    if path and os.path.isfile(path):
      with open(path, "rb") as f:
        out[field] = hashlib.sha256(f.read()).hexdigest()
  return out
