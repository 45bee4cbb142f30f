"""Readers that turn raw rating files into one `RawData` shape.

Supported: MovieLens-100K from the pinned recbole wheel (default, offline
after the first fetch) or a GroupLens `ml-100k` folder; MovieLens-1M as the
public MeLU cold-start split or a GroupLens `ml-1m` folder. Original ids are
int64 codes (data/ids.py: integer ids are themselves, string ids such as
ISBNs go through the RawData's codecs); dense indices are assigned later
(features.py).
"""

import collections
import dataclasses
import json
import os
import re
from typing import Optional

import numpy as np

from metarec_jax.core import assets
from metarec_jax.core.errors import DataError
from metarec_jax.data import archives
from metarec_jax.data.ids import IdCodec

Tags = dict  # original id -> list[str] of categorical values

ML100K_PREFIX = "recbole/dataset_example/ml-100k/"
ML100K_GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary "
    "Drama Fantasy Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller "
    "War Western").split()


@dataclasses.dataclass
class Ratings:
  """Parallel arrays of original user ids, item ids and ratings, and the
  ratings' timestamps where the source has them (None otherwise): an item
  warm-up's support is its earliest ratings (data/item_world.py)."""
  user: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  timestamp: Optional[np.ndarray] = None

  def __len__(self) -> int:
    return len(self.rating)

  def select(self, keep: np.ndarray) -> "Ratings":
    return Ratings(self.user[keep], self.item[keep], self.rating[keep],
                   None if self.timestamp is None else self.timestamp[keep])

  @classmethod
  def from_lists(cls, users, items, ratings, timestamps=None) -> "Ratings":
    return cls(np.asarray(users, np.int64), np.asarray(items, np.int64),
               np.asarray(ratings, np.float32),
               None if timestamps is None else np.asarray(timestamps,
                                                          np.int64))


@dataclasses.dataclass
class RawData:
  """Everything a loader reads, before any split.

  Attributes:
    name: dataset name for logs.
    user_fields: field -> {user id: [values]}; categorical user features.
    item_fields: field -> {item id: [values]}; multi-valued allowed.
    item_year: item id -> release year, absent when unknown.
    item_text: item id -> text for language-model features.
    ratings: all ratings, when the split is derived by rule.
    fixed_split: the published split when there is one: keys `pool`, `warm`,
      `user_cold`, `item_cold`, `user_item_cold`.
    new_item_year: items released in this year or later are new (rule split).
    new_items: if given, exactly these item ids are new (rule split); the
      year rule is not used. Set by loaders that choose new items otherwise.
    user_codec, item_codec: id codes <-> the ids as given (data/ids.py);
      the default is integer ids.
    counts: what the loader read and dropped, for the log (Book-Crossing).
  """
  name: str
  user_fields: dict
  item_fields: dict
  item_year: dict
  item_text: dict
  ratings: Optional[Ratings] = None
  fixed_split: Optional[dict] = None
  new_item_year: int = 1997
  new_items: Optional[np.ndarray] = None
  user_codec: IdCodec = dataclasses.field(default_factory=IdCodec)
  item_codec: IdCodec = dataclasses.field(default_factory=IdCodec)
  counts: dict = dataclasses.field(default_factory=dict)


def age_bucket(age: int) -> str:
  """MovieLens-1M age buckets, so ML-100K ages read like ML-1M's."""
  for bound, label in ((18, "1"), (25, "18"), (35, "25"), (45, "35"),
                       (50, "45"), (56, "50")):
    if age < bound:
      return label
  return "56"


def year_bucket(year: Optional[int]) -> list:
  if year is None:
    return ["unknown"]
  return [str(max(min(year, 1999), 1930) // 5 * 5)]


def _lines(text: str):
  """Yields (line number, line) for non-empty lines."""
  for n, line in enumerate(text.splitlines(), 1):
    if line.strip():
      yield n, line


def _split(path, n, line, sep, count):
  parts = line.split(sep)
  if len(parts) != count:
    raise DataError(f"{path}:{n}: expected {count} fields separated by "
                    f"{sep!r}, found {len(parts)}: {line[:80]!r}")
  return parts


def _int(path, n, value, what):
  try:
    return int(value)
  except ValueError:
    raise DataError(f"{path}:{n}: {what} {value!r} is not an integer") from None


def _rating(path, n, value):
  try:
    r = float(value)
  except ValueError:
    raise DataError(f"{path}:{n}: rating {value!r} is not a number") from None
  if not 0.5 <= r <= 5.0:
    raise DataError(f"{path}:{n}: rating {r} is outside 0.5..5")
  return r


def _parse_ratings(path, text, sep, skip_header=False) -> Ratings:
  users, items, ratings, stamps = [], [], [], []
  for n, line in _lines(text):
    if skip_header and n == 1:
      continue
    parts = line.split(sep)
    if len(parts) < 3:
      raise DataError(f"{path}:{n}: expected user, item, rating; got "
                      f"{line[:80]!r}")
    users.append(_int(path, n, parts[0], "user id"))
    items.append(_int(path, n, parts[1], "item id"))
    ratings.append(_rating(path, n, parts[2]))
    if len(parts) > 3:  # u.data and RecBole's .inter: seconds since 1970.
      stamps.append(_int(path, n, parts[3].split(".")[0], "timestamp"))
  if not ratings:
    raise DataError(f"{path}: no ratings found")
  return Ratings.from_lists(users, items, ratings,
                            stamps if len(stamps) == len(ratings) else None)


def _ml100k_users(path, text, sep, header, order):
  fields = collections.defaultdict(dict)
  for n, line in _lines(text):
    if header and n == 1:
      continue
    uid, age, gender, occupation, zipcode = [
        _split(path, n, line, sep, 5)[i] for i in order]
    uid = _int(path, n, uid, "user id")
    fields["gender"][uid] = [gender]
    fields["age"][uid] = [age_bucket(_int(path, n, age, "age"))]
    fields["occupation"][uid] = [occupation]
    fields["zip"][uid] = [zipcode[:1] or "?"]
  return dict(fields)


def load_ml100k(path: Optional[str] = None) -> RawData:
  """ML-100K from the pinned recbole wheel, or from a GroupLens folder or
  its ml-100k.zip."""
  if path:
    path = archives.dataset_folder(path, ("u.data",), "MovieLens-100K")
    read = lambda f: open(os.path.join(path, f), encoding="latin-1").read()
    ratings = _parse_ratings(os.path.join(path, "u.data"), read("u.data"), "\t")
    users = _ml100k_users(os.path.join(path, "u.user"), read("u.user"), "|",
                          False, (0, 1, 2, 3, 4))
    items, src = [], os.path.join(path, "u.item")
    for n, line in _lines(read("u.item")):
      parts = line.split("|")
      if len(parts) != 24:
        raise DataError(f"{src}:{n}: expected 24 '|' fields, found {len(parts)}")
      year = re.search(r"(\d{4})$", parts[2])
      title = re.sub(r"\s*\(\d{4}\)\s*$", "", parts[1])
      genres = [g for g, flag in zip(ML100K_GENRES, parts[5:]) if flag == "1"]
      items.append((_int(src, n, parts[0], "item id"), title,
                    int(year.group(1)) if year else None, genres))
  else:
    wheel = assets.fetch_wheel(assets.RECBOLE)
    read = lambda f: assets.read_member(wheel, ML100K_PREFIX + f).decode(
        "utf-8", errors="replace")
    src = f"{wheel}!{ML100K_PREFIX}"
    ratings = _parse_ratings(src + "ml-100k.inter", read("ml-100k.inter"),
                             "\t", skip_header=True)
    users = _ml100k_users(src + "ml-100k.user", read("ml-100k.user"), "\t",
                          True, (0, 1, 2, 3, 4))
    items = []
    for n, line in _lines(read("ml-100k.item")):
      if n == 1:
        continue
      iid, title, year, genres = _split(src + "ml-100k.item", n, line, "\t", 4)
      items.append((_int(src, n, iid, "item id"), title,
                    int(year) if year.isdigit() else None, genres.split()))
  item_fields = {"genre": {}, "year": {}}
  item_year, item_text = {}, {}
  for iid, title, year, genres in items:
    item_fields["genre"][iid] = genres
    item_fields["year"][iid] = year_bucket(year)
    if year is not None:
      item_year[iid] = year
    item_text[iid] = f"{title} ({year or 'unknown year'}). Genres: " + (
        ", ".join(genres) or "unknown") + "."
  return RawData("ml100k", users, item_fields, item_year, item_text,
                 ratings=ratings, new_item_year=1997)


def _ml1m_users(path):
  fields = collections.defaultdict(dict)
  text = open(path, encoding="latin-1").read()
  for n, line in _lines(text):
    uid, gender, age, occupation, zipcode = _split(path, n, line, "::", 5)
    uid = _int(path, n, uid, "user id")
    fields["gender"][uid] = [gender]
    fields["age"][uid] = [age]
    fields["occupation"][uid] = [occupation]
    fields["zip"][uid] = [zipcode[:1] or "?"]
  return dict(fields)


def _comma_list(value):
  return [v.strip() for v in value.split(",")
          if v.strip() and v.strip() != "N/A"]


def _load_ml1m_split(path: str) -> RawData:
  users = _ml1m_users(os.path.join(path, "users.dat"))
  src = os.path.join(path, "movies_extrainfos.dat")
  item_fields = {"rated": {}, "genre": {}, "director": {}, "actor": {}}
  item_year, item_text = {}, {}
  with open(src, encoding="utf-8") as f:
    for n, line in _lines(f.read()):
      parts = _split(src, n, line, "::", 11)
      iid = _int(src, n, parts[0], "movie id")
      title, year, rated, _, genres, director, _, actors, plot = parts[1:10]
      item_fields["rated"][iid] = [rated]
      item_fields["genre"][iid] = _comma_list(genres)
      item_fields["director"][iid] = _comma_list(director)
      item_fields["actor"][iid] = _comma_list(actors)
      if year[:4].isdigit():
        item_year[iid] = int(year[:4])
      item_text[iid] = (f"{title} ({year}). Genres: {genres}. Director: "
                        f"{director}. Starring: {actors}. {plot}")
  split = {}
  for key, stem in (("pool", "meta_training"), ("warm", "warm_up"),
                    ("user_cold", "user_cold_testing"),
                    ("item_cold", "item_cold_testing"),
                    ("user_item_cold", "user_and_item_cold_testing")):
    items_path = os.path.join(path, stem + ".json")
    with open(items_path, encoding="utf-8") as f:
      items = json.load(f)
    with open(os.path.join(path, stem + "_y.json"), encoding="utf-8") as f:
      ys = json.load(f)
    u, i, r = [], [], []
    for uid, its in items.items():
      if uid not in ys or len(ys[uid]) != len(its):
        raise DataError(f"{items_path}: user {uid} has {len(its)} items but "
                        f"{len(ys.get(uid, []))} ratings in {stem}_y.json")
      u += [int(uid)] * len(its)
      i += its
      r += ys[uid]
    split[key] = Ratings.from_lists(u, i, r)
  return RawData("ml1m", users, item_fields, item_year, item_text,
                 fixed_split=split, new_item_year=1998)


def _load_ml1m_grouplens(path: str) -> RawData:
  users = _ml1m_users(os.path.join(path, "users.dat"))
  src = os.path.join(path, "ratings.dat")
  ratings = _parse_ratings(src, open(src, encoding="latin-1").read(), "::")
  src = os.path.join(path, "movies.dat")
  item_fields = {"genre": {}, "year": {}}
  item_year, item_text = {}, {}
  for n, line in _lines(open(src, encoding="latin-1").read()):
    iid, title, genres = _split(src, n, line, "::", 3)
    iid = _int(src, n, iid, "movie id")
    year = re.search(r"\((\d{4})\)\s*$", title)
    year = int(year.group(1)) if year else None
    item_fields["genre"][iid] = genres.split("|")
    item_fields["year"][iid] = year_bucket(year)
    if year is not None:
      item_year[iid] = year
    item_text[iid] = f"{title}. Genres: {genres.replace('|', ', ')}."
  return RawData("ml1m", users, item_fields, item_year, item_text,
                 ratings=ratings, new_item_year=1998)


def load_ml1m(path: str) -> RawData:
  """ML-1M from MeLU's public cold-start split or a GroupLens release, each
  a folder or the .zip it was downloaded in."""
  if not path:
    raise DataError("MovieLens-1M: no path; set --config.data.path (or "
                    "METAREC_ML1M_DIR) to the downloaded folder or .zip.")
  path = archives.dataset_folder(path, ("meta_training.json", "ratings.dat"),
                                 "MovieLens-1M")
  if os.path.exists(os.path.join(path, "meta_training.json")):
    return _load_ml1m_split(path)
  if os.path.exists(os.path.join(path, "ratings.dat")):
    return _load_ml1m_grouplens(path)
  raise DataError(f"{path}: neither the public split (meta_training.json) "
                  "nor a GroupLens ml-1m folder (ratings.dat)")
