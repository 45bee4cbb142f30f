"""String ids (ISBNs, UUIDs) end to end: the codec, a `;`-separated latin-1
dataset trained by scripts/main.py, and recommend.py answering in the ids
as given."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.data import pipeline
from metarec_jax.data.ids import IdCodec, is_canonical_int
from tiny_run import flags_for, tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_codec_integer_ids_are_themselves_and_strings_sort():
  assert [is_canonical_int(v) for v in ("0", "42", "-7", "042", "4.0", "+4",
                                        "1e3", "")] == [True, True, True,
                                                        False, False, False,
                                                        False, False]
  ints = IdCodec.from_strings(["10", "9", "100"])
  assert ints.integer
  np.testing.assert_array_equal(ints.encode(["100", "9"]), [100, 9])
  assert ints.decode([9, 100]) == [9, 100]
  # One non-canonical id makes the whole side strings: "042" stays "042".
  mixed = IdCodec.from_strings(["10", "9", "042", "034545104X"])
  assert not mixed.integer
  codes = mixed.encode(["9", "042", "034545104X", "10"])
  np.testing.assert_array_equal(codes, [3, 1, 0, 2])  # string order
  assert mixed.decode(codes) == ["9", "042", "034545104X", "10"]
  with pytest.raises(KeyError, match="'B00005N5PF'"):
    mixed.encode(["10", "B00005N5PF"])


def _isbn(i: int) -> str:
  # Leading zeros (not an integer id) and an X check digit, as ISBNs have.
  return f"{i:010d}" if i % 2 else f"{i:09d}X"


def _string_dataset(folder):
  """write_dataset's data with ISBN item ids, `u<n>` user ids, `;` as the
  delimiter and a latin-1 accent in every title."""
  write_dataset(folder)
  for name in ("ratings.csv", "users.csv", "items.csv"):
    path = os.path.join(folder, name)
    with open(path, newline="") as f:
      rows = list(csv.reader(f))
    for row in rows[1:]:
      if name == "ratings.csv":
        row[0], row[1] = f"u{row[0]}", _isbn(int(row[1]))
      elif name == "users.csv":
        row[0] = f"u{row[0]}"
      else:
        row[0], row[1] = _isbn(int(row[0])), row[1].replace("Film", "Café")
    with open(path, "w", newline="", encoding="latin-1") as f:
      csv.writer(f, delimiter=";").writerows(rows)
  return folder


def test_isbn_dataset_trains_and_recommends_in_its_own_ids(tmp_path):
  folder = _string_dataset(str(tmp_path / "data"))
  c = tiny_config(folder)
  c.data.delimiter, c.data.encoding = ";", "latin-1"
  raw = pipeline.load_raw(c.data, 0)
  rated = {_isbn(int(i)) for i in range(1, 61)}
  # Codes follow string order: "0000000003" < "000000002X".
  assert raw.item_codec.decode(np.unique(raw.ratings.item)) == sorted(
      raw.item_codec.decode(np.unique(raw.ratings.item)))
  assert set(raw.item_codec.decode(np.unique(raw.ratings.item))) <= rated
  code = int(raw.item_codec.encode([_isbn(7)])[0])
  assert raw.item_text[code] == "Café 7, part two"
  # The same files without the encoding flag: the clear error of old.
  c.data.encoding = "utf-8"
  with pytest.raises(DataError, match=r"users.csv|items.csv|ratings.csv"):
    pipeline.load_raw(c.data, 0)

  workdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "main.py"),
       "--config=" + os.path.join(ROOT, "configs", "melu.py") + ":csv,smoke",
       *flags_for(c), "--config.data.delimiter=;",
       "--config.data.encoding=latin-1", f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = []
  for name in ("warm", "user_cold", "item_cold", "user_item_cold"):
    with open(workdir / f"predictions_{name}.csv", newline="") as f:
      rows += list(csv.DictReader(f))
  all_items = {_isbn(i) for i in range(1, 61)}
  assert rows and {r["item_id"] for r in rows} <= all_items
  assert {r["user_id"][0] for r in rows} == {"u"}
  split = json.loads((workdir / "split.json").read_text())
  assert set(split["existing_items"]) <= all_items

  rated = [_isbn(1), _isbn(2), _isbn(3)]
  me = tmp_path / "me.csv"
  me.write_text("item_id,rating\n" + "".join(f"{i},4\n" for i in rated))
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={me}", "--k=5", "--format=json",
       f"--user_id={split['existing_users'][0]}"],
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = [x["item_id"] for x in json.loads(proc.stdout)["items"]]
  assert len(got) == 5 and set(got) <= all_items - set(rated)
  assert all(isinstance(i, str) for i in got)
  # An id the catalogue lacks is named as written.
  me.write_text(f"item_id,rating\n{_isbn(1)},4\n{int(_isbn(1))},3\n")
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={me}"],
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 2
  assert f"{me}:3: 1 item id(s) unknown to the model: 1 (line 3)" \
      in proc.stderr
