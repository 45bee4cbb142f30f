"""GroupLens folders (ml-100k u.* files, ml-1m *.dat) read and split by rule."""

import shutil

import ml_collections
import numpy as np
import pytest

from metarec_jax.core.errors import DataError
from metarec_jax.data import pipeline, scenarios, sources
from metarec_jax.evaluation import evaluate
from metarec_jax.serving import recommender


def _write_ml1m(folder, n_users=20, n_items=12):
  folder.mkdir()
  rng = np.random.default_rng(0)
  rows = [f"{u}::{i}::{rng.integers(1, 6)}::97830000{i}"
          for u in range(1, n_users + 1) for i in range(1, n_items + 1)
          if rng.random() < 0.8]
  (folder / "ratings.dat").write_text("\n".join(rows) + "\n")
  (folder / "users.dat").write_text("\n".join(
      f"{u}::{'MF'[u % 2]}::25::{u % 20}::{10000 + u}"
      for u in range(1, n_users + 1)) + "\n")
  (folder / "movies.dat").write_text("\n".join(
      f"{i}::Movie {i} ({1990 + i})::Comedy|Drama"
      for i in range(1, n_items + 1)) + "\n", encoding="latin-1")
  return len(rows)


def test_ml1m_grouplens_folder_split_by_release_year(tmp_path):
  n = _write_ml1m(tmp_path / "ml-1m")
  raw = sources.load_ml1m(str(tmp_path / "ml-1m"))
  assert len(raw.ratings) == n and raw.fixed_split is None
  split = scenarios.make_split(raw, seed=0)
  # Movies 1..7 are 1991..1997 (existing); 8..12 are 1998.. (new).
  assert set(split.existing_items) == set(range(1, 8))
  assert set(split.new_items) == set(range(8, 13))
  assert len(split.new_users) == 4  # 20% of 20, seeded.
  total = len(split.pool) + sum(len(r) for r in split.scenarios.values())
  assert total == n
  assert raw.item_fields["genre"][3] == ["Comedy", "Drama"]


def test_ml100k_grouplens_folder(tmp_path):
  folder = tmp_path / "ml-100k"
  folder.mkdir()
  (folder / "u.data").write_text("1\t1\t5\t0\n2\t2\t3\t0\n2\t1\t4\t0\n")
  (folder / "u.user").write_text("1|24|M|technician|85711\n"
                                  "2|53|F|other|94043\n")
  genres = ["0"] * 19
  genres[5] = "1"  # Comedy
  (folder / "u.item").write_text(
      "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(genres) + "\n"
      "2|Scream (1997)|01-Jan-1997||http://x|" + "|".join(genres) + "\n",
      encoding="latin-1")
  raw = sources.load_ml100k(str(folder))
  assert len(raw.ratings) == 3
  assert raw.item_year == {1: 1995, 2: 1997}
  assert raw.item_fields["genre"][1] == ["Comedy"]
  assert raw.user_fields["age"][2] == ["50"]  # 53 -> MovieLens bucket 50.
  split = scenarios.make_split(raw, seed=0)
  assert list(split.new_items) == [2]


def test_ml1m_zip_as_downloaded_reads_like_the_folder(tmp_path, monkeypatch):
  """The GroupLens ml-1m.zip nests its files in ml-1m/: pointing the loader
  at the zip gives what the unpacked folder gives; a bad zip is one error."""
  monkeypatch.setenv("METAREC_CACHE_DIR", str(tmp_path / "cache"))
  _write_ml1m(tmp_path / "ml-1m")
  archive = shutil.make_archive(str(tmp_path / "download"), "zip",
                                root_dir=tmp_path, base_dir="ml-1m")
  a = sources.load_ml1m(str(tmp_path / "ml-1m"))
  b = sources.load_ml1m(archive)
  for f in ("user", "item", "rating"):
    np.testing.assert_array_equal(getattr(a.ratings, f),
                                  getattr(b.ratings, f))
  assert a.item_fields == b.item_fields and a.user_fields == b.user_fields
  (tmp_path / "other").mkdir()
  (tmp_path / "other" / "notes.txt").write_text("not a dataset")
  bad = shutil.make_archive(str(tmp_path / "other"), "zip",
                            root_dir=tmp_path, base_dir="other")
  with pytest.raises(DataError, match="no MovieLens-1M files in it"):
    sources.load_ml1m(bad)


def test_a_run_records_the_data_path_the_environment_named(monkeypatch,
                                                           tmp_path):
  """A run trained with METAREC_ML1M_DIR records that folder in its
  results.json config, so its folder serves without the variable."""
  c = ml_collections.ConfigDict({"name": "ml1m", "path": ""})
  monkeypatch.setenv("METAREC_ML1M_DIR", "/data/ml-1m")
  assert pipeline.data_path(c) == "/data/ml-1m"
  monkeypatch.setattr(evaluate, "split_manifest", lambda prep: {})
  evaluate.write_run(str(tmp_path), None, {}, ml_collections.ConfigDict(
      {"seed": 0, "data": c}), selection={})
  assert recommender.load_config(str(tmp_path)).data.path == "/data/ml-1m"
  assert c.path == ""  # The caller's config is left as it was.
  c.path = "/elsewhere/ml-1m.zip"  # The config wins over the environment.
  assert pipeline.data_path(c) == "/elsewhere/ml-1m.zip"
  monkeypatch.delenv("METAREC_ML1M_DIR")
  c.path = ""
  assert pipeline.data_path(c) == ""
