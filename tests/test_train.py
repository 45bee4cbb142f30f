"""The jitted steps on real tables, and the end-to-end smoke run."""

import json
import os

import chex
import jax
import numpy as np
import pytest

from configs import melu as melu_config
from metarec_jax import floors, methods, train
from metarec_jax.data import batching
from metarec_jax.meta import step as meta

LR = {"inner_lr": np.float32(0.05)}


def _setup(prep, first_order=False, max_traces=0):
  config = melu_config.get_config("ml100k,smoke")
  config.inner_steps, config.first_order = 2, first_order
  method = methods.build(config, prep)
  optimizer = meta.make_optimizer(1e-3, 10.0)
  step = meta.make_meta_step(method, optimizer, max_traces)
  tables = jax.tree.map(np.asarray, prep.tables)
  state = meta.init_state(method, optimizer, tables, jax.random.key(0))
  return method, optimizer, step, tables, state


def test_meta_step_traced_once_per_shape(ml100k_prep):
  chex.clear_trace_counter()
  _, _, step, tables, state = _setup(ml100k_prep, max_traces=2)
  tasks = ml100k_prep.tasks["train"]
  lr = LR
  for size in (32, 96):
    idx = np.flatnonzero(tasks.support_sizes <= size)
    for start in (0, 8, 16):  # Same shape, other data: no retrace.
      batch = batching.pad_tasks(tasks, idx[start:start + 8], size, 8)
      state, m = step(state, tables, batch, lr)
  assert np.isfinite(float(m["loss"]))
  with pytest.raises(AssertionError, match="traced > 2"):
    batch = batching.pad_tasks(tasks, idx[:8], 128, 8)
    step(state, tables, batch, lr)


def test_meta_step_lowers_the_query_loss(ml100k_prep):
  _, _, step, tables, state = _setup(ml100k_prep)
  tasks = ml100k_prep.tasks["train"]
  idx = np.flatnonzero(tasks.support_sizes <= 96)[:16]
  batch = batching.pad_tasks(tasks, idx, 96, 16)
  losses = []
  for _ in range(30):
    state, m = step(state, tables, batch, LR)
    losses.append(float(m["loss"]))
  assert losses[-1] < 0.9 * losses[0]


def test_second_and_first_order_gradients_differ(ml100k_prep):
  _, _, _, tables, state = _setup(ml100k_prep)
  tasks = ml100k_prep.tasks["train"]
  batch = batching.pad_tasks(tasks, np.flatnonzero(
      tasks.support_sizes <= 96)[:4], 96, 4)
  def grad(first_order):
    method = _setup(ml100k_prep, first_order)[0]
    loss = lambda p: method.loss(p, tables, batch, jax.random.key(1),
                                 {"inner_lr": np.float32(0.5)})
    return jax.jit(jax.grad(loss))(state.params)
  so, fo = grad(False), grad(True)
  diff = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), so, fo)
  # The embeddings see the support set only through the inner updates.
  assert max(jax.tree.leaves(diff["embed"])) > 1e-6
  assert max(jax.tree.leaves(diff["decision"])) > 1e-6


def test_floors_by_hand(ml100k_prep):
  stats = ml100k_prep.floor_stats
  tasks = ml100k_prep.tasks["user_cold"].subset([0])
  s_items, s_r = tasks.support_items[0], tasks.support_ratings[0]
  q = tasks.query_items[0]
  np.testing.assert_allclose(
      floors.predict("user_mean", stats, tasks)[0], s_r.mean(), rtol=1e-6)
  bias = (s_r - stats.item_mean[s_items]).mean()
  np.testing.assert_allclose(
      floors.predict("item_mean_user_bias", stats, tasks)[0],
      stats.item_mean[q] + bias, rtol=1e-6)
  train = ml100k_prep.split.train_pool
  some = train.item[0]
  expected = train.rating[train.item == some].mean()
  assert stats.item_mean[ml100k_prep.items.index([some])[0]] == (
      pytest.approx(expected, rel=1e-6))


def _run(workdir, num_steps):
  config = melu_config.get_config("ml100k,smoke")
  config.num_steps = num_steps
  return train.train_and_evaluate(config, str(workdir))


def test_smoke_run_writes_files_and_resumes_identically(tmp_path):
  full, part = tmp_path / "full", tmp_path / "part"
  _run(full, 20)
  for name in ("results.json", "split.json", "timing.json",
               "predictions_warm.csv", "predictions_user_cold.csv",
               "predictions_item_cold.csv", "predictions_user_item_cold.csv"):
    assert (full / name).exists(), name
  results = json.loads((full / "results.json").read_text())
  for s in ("warm", "user_cold", "item_cold", "user_item_cold"):
    assert set(results["scenarios"][s]) >= {"mae", "rmse", "ndcg@1",
                                            "ndcg@3", "ndcg@5", "n_tasks",
                                            "n_ratings"}
    assert set(results["floors"]) == set(floors.FLOORS)
  # Recompute the warm MAE from the CSV, as a reader would.
  rows = np.loadtxt(full / "predictions_warm.csv", delimiter=",",
                    skiprows=1)
  assert len(rows) == results["scenarios"]["warm"]["n_ratings"]
  assert np.abs(rows[:, 2] - rows[:, 3]).mean() == pytest.approx(
      results["scenarios"]["warm"]["mae"], abs=1e-6)
  # Stop at step 10, then the same run resumes to 20: byte-identical.
  _run(part, 10)
  os.remove(part / "results.json")
  _run(part, 20)
  assert (part / "results.json").read_bytes() == (
      full / "results.json").read_bytes().replace(b"", b"")


def test_scanned_steps_equal_stepwise(ml100k_prep):
  method, optimizer, step, tables, state = _setup(ml100k_prep)
  tasks = ml100k_prep.tasks["train"]
  idx = np.flatnonzero(tasks.support_sizes <= 96)
  batches = [batching.pad_tasks(tasks, idx[i:i + 8], 32 * (1 + i % 3), 8)
             if tasks.support_sizes[idx[i:i + 8]].max() <= 32 * (1 + i % 3)
             else batching.pad_tasks(tasks, idx[i:i + 8], 96, 8)
             for i in (0, 8, 16)]
  scanned = meta.make_scanned_steps(method, optimizer)
  copy = jax.tree.map(jax.numpy.copy, state)
  for b in batches:
    state, m = step(state, tables, b, LR)
  state2, ms = scanned(copy, tables, batching.stack(batches), LR)
  assert ms["loss"].shape == (3,)
  assert float(ms["loss"][-1]) == pytest.approx(float(m["loss"]), abs=1e-5)
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(state2.params)):
    np.testing.assert_allclose(a, b, atol=1e-5)
