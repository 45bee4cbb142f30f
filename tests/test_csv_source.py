"""Your own data: the CSV loader, the new-item rules, and the bad-input
corpus (each case one DataError naming file and line; exit 2 from main)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from configs import melu as melu_config
from metarec_jax.data import csv_source, pipeline, scenarios
from metarec_jax.core.errors import DataError
from tiny_run import csv_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = "user_id,item_id,rating,timestamp\n1,10,4,100\n1,11,3.5,200\n"


def test_loads_features_and_newest_items_by_year(tmp_path):
  c = csv_config(write_dataset(tmp_path))
  raw = pipeline.load_raw(c.data, 0)
  assert raw.user_fields["gender"][3] == ["F"]
  assert raw.item_fields["genres"][1] == ["Drama", "Comedy"]
  assert raw.item_text[1] == "Film 1, part two"
  rated = np.unique(raw.ratings.item)
  # Newest fifth by year = the largest ids here (year = 1950 + id).
  np.testing.assert_array_equal(raw.new_items, np.sort(rated)[-12:])
  split = scenarios.make_split(raw, 0)
  np.testing.assert_array_equal(split.new_items, raw.new_items)
  assert not np.isin(split.pool.item, raw.new_items).any()


def test_new_items_by_first_rating_then_seeded_draw(tmp_path):
  folder = write_dataset(tmp_path, year=False)
  raw = pipeline.load_raw(csv_config(folder).data, 0)
  # timestamp = 1000 * item + user: first ratings order items by id.
  np.testing.assert_array_equal(raw.new_items,
                                np.unique(raw.ratings.item)[-12:])
  c = csv_config(folder, items="")
  with open(c.data.ratings) as f:
    rows = [",".join(line.split(",")[:3]) for line in f.read().splitlines()]
  with open(c.data.ratings, "w") as f:
    f.write("\n".join(rows) + "\n")
  a = pipeline.load_raw(c.data, 0).new_items
  assert len(a) == 12
  np.testing.assert_array_equal(a, pipeline.load_raw(c.data, 0).new_items)
  assert not np.array_equal(a, pipeline.load_raw(c.data, 1).new_items)


# (case, file content, expected line, words the message must hold)
BAD_RATINGS = [
    ("wrong column count", GOOD + "1,12\n", 4, "expected 4 columns"),
    ("non-numeric rating", GOOD + "1,12,good,300\n", 4, "not a number"),
    ("empty id", GOOD + ",12,4,300\n", 4, "empty user_id"),
    ("non-integer timestamp", GOOD + "1,12,4,noon\n", 4, "not an integer"),
    ("rating out of range", GOOD + "1,12,7,300\n", 4, "outside 0.5..5"),
    ("NaN", GOOD + "1,12,nan,300\n", 4, "not a finite number"),
    ("inf", GOOD + "1,12,inf,300\n", 4, "not a finite number"),
    ("empty file", "", 1, "the file is empty"),
    ("header only", "user_id,item_id,rating\n", 1, "only a header"),
    ("duplicate pair", GOOD + "1,10,2,300\n", 4, "first at line 2"),
    ("invalid UTF-8", GOOD + "1,12,4,3\xff0\n", 4, "invalid UTF-8"),
    ("truncated last line", GOOD + "1,12,4", 4, "looks truncated"),
    ("no header", "1,10,4\n1,11,3\n", 1, "lacks user_id"),
]


@pytest.mark.parametrize("case,content,line,words", BAD_RATINGS,
                         ids=[c[0] for c in BAD_RATINGS])
def test_bad_ratings_file_names_file_and_line(tmp_path, case, content, line,
                                              words):
  del case
  path = tmp_path / "ratings.csv"
  data = content.encode("latin-1") if "\xff" in content else content.encode()
  path.write_bytes(data)
  c = csv_config(str(tmp_path), users="", items="")
  with pytest.raises(DataError) as e:
    pipeline.load_raw(c.data, 0)
  assert str(e.value).startswith(f"{path}:{line}:"), str(e.value)
  assert words in str(e.value)


def test_missing_or_bad_feature_table(tmp_path):
  (tmp_path / "ratings.csv").write_text(GOOD)
  c = csv_config(str(tmp_path), users=str(tmp_path / "nope.csv"), items="")
  with pytest.raises(DataError, match=r"nope.csv: no such file \(given by "
                     r"--config.data.users\); fix the path or leave it empty"):
    pipeline.load_raw(c.data, 0)
  (tmp_path / "items.csv").write_text("item_id,year\n10,1990\n11,soon\n")
  c = csv_config(str(tmp_path), users="", items=str(tmp_path / "items.csv"))
  with pytest.raises(DataError, match=r"items.csv:3: year 'soon'"):
    pipeline.load_raw(c.data, 0)


def test_main_exits_2_with_one_line_and_leaves_nothing(tmp_path):
  bad = tmp_path / "ratings.csv"
  bad.write_text(GOOD + "1,12,nan,300\n")
  workdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "main.py"),
       "--config=" + os.path.join(ROOT, "configs", "melu.py") + ":csv,smoke",
       f"--config.data.ratings={bad}", "--config.data.use_tfds=False",
       f"--workdir={workdir}"], capture_output=True, text=True, timeout=120,
      check=False)
  assert proc.returncode == 2, proc.stderr[-2000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert errors == [f"error: {bad}:4: rating is 'nan', not a finite number; "
                    "fix or delete this line."]
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()
