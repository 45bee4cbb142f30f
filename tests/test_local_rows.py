"""MAML's local-row adaptation equals adapting the full embedding tables."""

import functools

import jax
import numpy as np
import pytest

from configs.tables import coldstart as table_config
from metarec_jax.data import pipeline
from metarec_jax.experiments import catalogue_timing
from metarec_jax.meta import base, local_rows
from test_methods import HP, build, toy_batch


def full_tables(params, rows):
  """The reference: adapt every row of every table (what MAML means)."""
  return params, rows, None


@pytest.mark.parametrize("name", ["maml"])
def test_local_rows_match_full_tables(name, monkeypatch):
  # The toy tasks repeat items, genres and the unknown item id (0), so rows
  # read several times must get their summed gradient to match; the query
  # reads rows its support did and rows it did not.
  method, tables = build(name, inner_steps=1)
  params = method.init(jax.random.key(0), tables)
  batch = toy_batch(1)
  key = jax.random.key(3)

  def outputs():
    pred = jax.jit(functools.partial(base.adapted_predictions, method))(
        params, tables, batch, HP)
    loss, grads = jax.jit(jax.value_and_grad(
        lambda p: method.meta_loss(p, tables, batch, key, HP)[0]))(params)
    return pred, loss, grads

  local = outputs()
  monkeypatch.setattr(local_rows, "localize", full_tables)
  monkeypatch.setattr(local_rows, "local_embedder", lambda e, p: e)
  full = outputs()
  np.testing.assert_allclose(local[0], full[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(local[1], full[1], rtol=1e-5)
  # The meta-gradient reaches the full tables, row for row.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-6),
               local[2], full[2])
  still = base.adapted_predictions(method, params, tables, batch,
                                   {**HP, "inner_lr": np.float32(0.0)})
  assert np.abs(np.asarray(full[0]) - np.asarray(still)).max() > 1e-4


def test_localize_keeps_padding_and_unknown_rows_at_zero():
  table = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 2))
  idx = np.array([[3, 0], [7, 3], [9, 9]], np.int32)
  params, rows, ids = local_rows.localize(
      {"item_genre": {"embedding": table}, "item_id": table},
      {"user": {}, "item": {"genre": idx}, "item_id": np.array([4, 0, 4])})
  local, li = params["item_genre"]["embedding"], rows["item"]["genre"]
  np.testing.assert_array_equal(np.asarray(local)[np.asarray(li)],
                                table[idx])
  np.testing.assert_array_equal(np.asarray(li) == 0, idx == 0)
  item_rows = np.asarray(params["item_id"])
  assert item_rows[0, 0] == 0 and np.asarray(rows["item_id"]).tolist() == [
      1, 0, 1]
  # The query's view: rows the support read come from the (here: moved)
  # local rows, the others from the global table.
  moved = {"item_genre": {"embedding": local + 100.0},
           "item_id": item_rows + 100.0}
  q_params, q_rows = local_rows.lookup(
      {"item_genre": {"embedding": table}, "item_id": table}, moved, ids,
      {"user": {}, "item": {"genre": np.array([[3, 5]], np.int32)},
       "item_id": np.array([4], np.int32)})
  got = np.asarray(q_params["item_genre"]["embedding"])[np.asarray(
      q_rows["item"]["genre"])]
  np.testing.assert_array_equal(got, [[table[3] + 100.0, table[5]]])
  got_id = np.asarray(q_params["item_id"])[np.asarray(q_rows["item_id"])]
  np.testing.assert_array_equal(got_id, [table[4] + 100.0])


@pytest.mark.parametrize("by_map", [False, True])
def test_both_ways_to_local_positions_agree_with_a_loop(by_map):
  """The compare ([n, R]) and the vocabulary map ([V]) give, for each id,
  the first local row holding it, or R (row 0 repeats as _local's fill)."""
  rng = np.random.default_rng(int(by_map))
  vocab = 50
  ids = np.concatenate([[0], np.sort(rng.choice(np.arange(1, vocab), 12,
                                                False)), np.zeros(4)])
  ids = ids.astype(np.int32)
  flat = rng.integers(0, vocab, size=400).astype(np.int32)
  want = [next((j for j, v in enumerate(ids) if v == x), len(ids))
          for x in flat]
  assert min(want) == 0 and max(want) == len(ids)  # Both cases occur.
  got = local_rows._local_position(ids, flat, vocab, by_map)
  np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("by_map", [False, True])
def test_positions_by_forces_its_way_whatever_the_sizes(by_map):
  # Sizes where the automatic choice is the map (n * R > V) and where it
  # is the compare: the forced way's primitive is traced in both.
  table, local = np.zeros((20, 2), np.float32), np.zeros((3, 2), np.float32)
  ids = np.array([0, 5, 7], np.int32)
  for n in (2, 40):
    idx = np.arange(n, dtype=np.int32) % 20
    with local_rows.positions_by(by_map):
      text = str(jax.make_jaxpr(local_rows._patch)(table, local, ids, idx))
    assert ("scatter" in text) == by_map and ("argmax" in text) != by_map
  assert local_rows._FORCED_WAY is None  # Restored on the way out.


def test_one_jitted_function_is_traced_again_under_each_way():
  # jit reuses a function's trace for the same shapes: positions_by must
  # clear it, or the second way would run the first way's program.
  table, local = np.zeros((20, 2), np.float32), np.zeros((3, 2), np.float32)
  ids, idx = np.array([0, 5, 7], np.int32), np.arange(40, dtype=np.int32) % 20
  patch = jax.jit(local_rows._patch)
  texts = {}
  for by_map in (False, True):
    with local_rows.positions_by(by_map):
      texts[by_map] = patch.lower(table, local, ids, idx).as_text()
  assert "scatter" in texts[True] and "scatter" not in texts[False]


def test_catalogue_scores_are_the_same_both_ways():
  # Full-adaptation catalogue ranking on real data, the compare forced
  # against the vocabulary map forced: the same scores, and each way traced
  # its own program (the forced flag is read at trace time).
  config = table_config.get_config("ml100k,smoke")
  prep = pipeline.prepare(config.data, 0)
  got = catalogue_timing.time_method(config, prep, "fomaml", "user_cold",
                                     users=4, item_chunk=512, repeats=1)
  assert got["users"] == 4 and got["catalogue_items"] > 512
  assert got["max_abs_diff"] < 1e-5
  for way in catalogue_timing.WAYS:
    assert got[way]["steady_s"] > 0
