"""The meta-step's overfitting controls (train/controls.py, adversarial.py):
off is the plain step bit for bit, each control does what it says and
nothing else, with batch_rows and under the vmapped multi-run step, without
a retrace when its traced strength changes."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import TaskBatch
from metarec_jax.data import batching, pipeline
from metarec_jax.meta import base, content, registry
from metarec_jax.train import adversarial, controls, engine, step
from tiny_run import tiny_config, write_dataset

ALL_ON = controls.Controls(adversarial=True, feature_dropout=True,
                           text_dropout=True, support_k=(1, 3))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """First-order MeLU with item text (a random unit table: no encoder)."""
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder)
  config.method, config.inner_steps, config.model.hidden = (
      "melu_fo_text", 1, (8,))
  prep = pipeline.prepare(config.data, 0)
  rng = np.random.default_rng(0)
  text = rng.normal(size=(len(prep.items), 8)).astype(np.float32)
  text /= np.linalg.norm(text, axis=1, keepdims=True)
  prep = dataclasses.replace(prep, tables={**prep.tables, "item_text": text})
  return config, prep, registry.build(config, prep)


def _hp(config, **values):
  hp = base.hparams(config)
  hp.update({k: np.float32(v) for k, v in values.items()})
  return hp


def _runs(prep, method, hps, seed=0):
  """States, tables, batch and hparams of len(hps) runs (one seed)."""
  tables = jax.tree.map(np.asarray, prep.tables)
  tasks = prep.tasks["train"]
  batch = batching.pad_tasks(
      tasks, np.flatnonzero(tasks.support_sizes <= 32)[:7], 32, 8)
  n = len(hps)
  state = step.init_state(method, tables, seed, 1e-2, 0.0, 10.0)
  return (engine.stack([state] * n), engine.stack([tables] * n),
          engine.stack([batch] * n), engine.stack(hps))


def _params(states, i):
  return [np.asarray(x[i]) for x in jax.tree.leaves(states.params)]


def test_defaults_are_off_and_off_is_the_identity(tiny):
  config, prep, _ = tiny
  assert controls.of([config]) == controls.OFF
  tables, batch = prep.tables, object()
  out = controls.OFF.apply(tables, batch, jax.random.key(0), {})
  assert out[0] is tables and out[1] is batch


def test_a_control_at_zero_is_the_plain_step_bit_for_bit(tiny):
  """Two vmapped runs in one step: run 0 with every control compiled in at
  strength 0 ends exactly where the plain step ends; run 1 (on) moves
  elsewhere."""
  config, prep, method = tiny
  on = controls.Controls(adversarial=True, feature_dropout=True,
                         text_dropout=True)
  zero = _hp(config, adversarial_eps=0.0, feature_dropout=0.0,
             text_dropout=0.0)
  some = _hp(config, adversarial_eps=0.05, feature_dropout=0.3,
             text_dropout=0.3)
  states, tables, batch, hps = _runs(prep, method, [zero, some])
  plain, m_plain = step.make_step(method, 10.0)(
      jax.tree.map(jnp.copy, states), tables, batch, hps)
  ctrl, m = step.make_step(method, 10.0, controls=on)(states, tables, batch,
                                                      hps)
  for a, b in zip(_params(plain, 0), _params(ctrl, 0)):
    np.testing.assert_array_equal(a, b)
  assert float(m["loss"][0]) == float(m_plain["loss"][0])
  assert max(float(np.abs(a - b).max()) for a, b in
             zip(_params(plain, 1), _params(ctrl, 1))) > 1e-6


def test_support_cut_keeps_min_k_real_ratings_and_only_removes():
  t, s = 64, 12
  rng = np.random.default_rng(1)
  n = rng.integers(0, s + 1, size=t)
  n[-1] = 0  # A padding task.
  mask = (np.arange(s)[None] < n[:, None]).astype(np.float32)
  items = rng.integers(1, 50, size=(t, s)).astype(np.int32) * (mask > 0)
  ratings = rng.integers(1, 6, size=(t, s)).astype(np.float32) * mask
  batch = TaskBatch(jnp.arange(t), jnp.asarray(items), jnp.asarray(ratings),
                    jnp.asarray(mask), jnp.zeros((t, 2), jnp.int32),
                    jnp.zeros((t, 2)), jnp.ones((t, 2)), jnp.ones(t))
  sizes = (1, 3, 5)
  kept_at = np.zeros((t, s))
  seen_k = set()
  for seed in range(30):
    cut = controls.cut_support(batch, jax.random.key(seed), sizes)
    keep = np.asarray(cut.support_mask) > 0
    kept = keep.sum(1)
    # Each task keeps min(k, n) for one k of `sizes`.
    ks = [next(k for k in sizes if min(k, m) == c) if m else None
          for c, m in zip(kept, n)]
    assert all(k is not None or m == 0 for k, m in zip(ks, n))
    seen_k |= {k for k, m in zip(ks, n) if m > max(sizes)}
    assert not np.any(keep & (mask == 0))  # Only ever removes.
    np.testing.assert_array_equal(np.asarray(cut.support_items)[keep],
                                  items[keep])
    np.testing.assert_array_equal(np.asarray(cut.support_ratings)[keep],
                                  ratings[keep])
    assert not np.asarray(cut.support_items)[~keep].any()  # As padding.
    assert not np.asarray(cut.support_ratings)[~keep].any()
    kept_at += keep
  assert seen_k == set(sizes)
  # Random ratings, not the first k: every real position of a long support
  # is kept in some draws and dropped in others.
  long_ = n == s
  assert np.all(kept_at[long_] > 0) and np.all(kept_at[long_] < 30)
  again = controls.cut_support(batch, jax.random.key(0), sizes)
  first = controls.cut_support(batch, jax.random.key(0), sizes)
  np.testing.assert_array_equal(again.support_mask, first.support_mask)


def test_feature_dropout_rate_zeros_only_and_seeded():
  rng = np.random.default_rng(2)
  tables = {"user": {"age": rng.integers(1, 9, (4000, 1), dtype=np.int32)},
            "item": {"genre": rng.integers(0, 9, (3000, 6), dtype=np.int32),
                     "year": rng.integers(1, 9, (3000, 1), dtype=np.int32)},
            "item_id": np.arange(3000, dtype=np.int32)}
  out = controls.drop_features(tables, jax.random.key(3), 0.25)
  for side, f in (("user", "age"), ("item", "genre"), ("item", "year")):
    x, y = tables[side][f], np.asarray(out[side][f])
    assert y.dtype == x.dtype
    changed = y != x
    assert not np.any(y[changed])  # Only to 0 (missing).
    dropped = changed.sum() / (x > 0).sum()
    assert abs(dropped - 0.25) < 0.02, (side, f, dropped)
  assert out["item_id"] is tables["item_id"]
  same = controls.drop_features(tables, jax.random.key(3), 0.25)
  other = controls.drop_features(tables, jax.random.key(4), 0.25)
  np.testing.assert_array_equal(same["item"]["genre"], out["item"]["genre"])
  assert np.any(np.asarray(other["item"]["genre"])
                != np.asarray(out["item"]["genre"]))


def test_text_dropout_rate_rows_to_zero_and_seeded():
  text = np.random.default_rng(5).normal(size=(5000, 4)).astype(np.float32)
  out = np.asarray(controls.drop_text({"item_text": text},
                                      jax.random.key(6), 0.1)["item_text"])
  dropped = ~np.all(out == text, axis=1)
  assert not np.any(out[dropped])  # Whole rows, to zeros.
  assert abs(dropped.mean() - 0.1) < 0.015
  np.testing.assert_array_equal(out, controls.drop_text(
      {"item_text": text}, jax.random.key(6), 0.1)["item_text"])
  with pytest.raises(ConfigError, match="text_features=True"):
    controls.drop_text({"item": {}}, jax.random.key(0), 0.1)


def test_adversarial_perturbation_norm_direction_and_first_order(tiny):
  config, prep, method = tiny
  tables = jax.tree.map(np.asarray, prep.tables)
  _, _, batch, _ = _runs(prep, method, [base.hparams(config)])
  batch = jax.tree.map(lambda x: x[0], batch)
  # At inner_lr 0 the first-order meta-gradient is the exact gradient, so
  # the first-order expansion below holds.
  hp = _hp(config, inner_lr=0.0)
  params = method.init(jax.random.key(0), tables)
  rng = jax.random.key(1)
  loss_fn = jax.jit(lambda p: method.meta_loss(p, tables, batch, rng, hp)[0])
  loss, grads = jax.value_and_grad(loss_fn)(params)
  eps = 1e-3
  moved = adversarial.perturb(params, grads, eps)
  flat = jax.tree_util.tree_leaves_with_path(params)
  names = set()
  first_order = 0.0
  for (path, p), m, g in zip(flat, jax.tree.leaves(moved),
                             jax.tree.leaves(grads)):
    d, g = np.asarray(m - p, np.float64), np.asarray(g, np.float64)
    if not adversarial.is_embedding(path):
      assert not d.any(), path
      continue
    names |= {k.key for k in path} & set(adversarial.NAMES)
    np.testing.assert_allclose(np.linalg.norm(d), eps, rtol=1e-3)
    cos = np.sum(d * g) / (np.linalg.norm(d) * np.linalg.norm(g))
    assert cos > 0.999, path
    first_order += eps * np.linalg.norm(g)
  assert names == set(adversarial.NAMES)
  gain = float(loss_fn(moved)) - float(loss)
  assert gain > 0
  np.testing.assert_allclose(gain, first_order, rtol=0.1)


def test_adversarial_term_in_the_step_and_its_weight(tiny):
  config, prep, method = tiny
  on = controls.Controls(adversarial=True)
  hps = [_hp(config, adversarial_eps=0.05, adversarial_weight=w)
         for w in (0.0, 1.0)]
  states, tables, batch, hp = _runs(prep, method, hps)
  plain, _ = step.make_step(method, 10.0)(jax.tree.map(jnp.copy, states),
                                          tables, batch, hp)
  out, m = step.make_step(method, 10.0, controls=on)(states, tables, batch,
                                                     hp)
  loss, adv = np.asarray(m["loss"]), np.asarray(m["adversarial_loss"])
  assert np.all(adv > loss)
  # Weight 0: the clean gradient; weight 1: another step.
  for a, b in zip(_params(plain, 0), _params(out, 0)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert max(float(np.abs(a - b).max()) for a, b in
             zip(_params(plain, 1), _params(out, 1))) > 1e-6


def test_adversarial_needs_embedding_leaves():
  method = content.ContentBaseline(item_fields=())
  text = np.eye(4, dtype=np.float32)
  tables = {"user": {}, "item": {}, "item_text": text}
  state = step.init_state(method, tables, 0, 1e-2, 0.0, 10.0)
  batch = TaskBatch(jnp.zeros(2, jnp.int32), jnp.ones((2, 3), jnp.int32),
                    jnp.ones((2, 3)), jnp.ones((2, 3)),
                    jnp.ones((2, 2), jnp.int32), jnp.ones((2, 2)),
                    jnp.ones((2, 2)), jnp.ones(2))
  hp = {k: np.float32(0.1) for k in base.HPARAMS}
  fn = step.make_step(method, 10.0,
                      controls=controls.Controls(adversarial=True))
  one = engine.stack
  with pytest.raises(ConfigError, match="adversarial_eps.*ContentBaseline"):
    fn(one([state]), one([tables]), one([batch]), one([hp]))


@pytest.mark.parametrize("on", [
    controls.Controls(feature_dropout=True),
    controls.Controls(text_dropout=True),
    controls.Controls(support_k=(1, 3)),
    controls.Controls(adversarial=True)], ids=lambda c: next(
        f.name for f in dataclasses.fields(c) if getattr(c, f.name)))
def test_batch_rows_give_the_same_step(tiny, on):
  """The input controls act on the full tables before batch_rows.restrict,
  so both steps draw the same drops: the same params, up to float sums."""
  config, prep, method = tiny
  hp = _hp(config, adversarial_eps=0.05, feature_dropout=0.3,
           text_dropout=0.3)
  states, tables, batch, hps = _runs(prep, method, [hp])
  full, m = step.make_step(method, 10.0, controls=on)(
      jax.tree.map(jnp.copy, states), tables, batch, hps)
  rows, m_rows = step.make_step(method, 10.0, batch_rows=True, controls=on)(
      states, tables, batch, hps)
  np.testing.assert_allclose(m_rows["loss"], m["loss"], rtol=1e-5)
  for a, b in zip(_params(full, 0), _params(rows, 0)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_every_control_traced_values_change_without_a_retrace(tiny):
  config, prep, method = tiny
  chex.clear_trace_counter()
  fn = step.make_step(method, 10.0, max_traces=1, controls=ALL_ON)
  hps = [_hp(config, adversarial_eps=0.01 * i, feature_dropout=0.1 * i,
             text_dropout=0.2 * i, adversarial_weight=0.5 * i)
         for i in (1, 2)]
  states, tables, batch, hp = _runs(prep, method, hps)
  losses = []
  for scale in (1.0, 0.5, 0.0):
    hp = jax.tree.map(lambda x, s=scale: x * np.float32(s), hp)
    hp["inner_lr"] = np.full(2, 0.05, np.float32)
    states, m = fn(states, tables, batch, hp)
    losses.append(np.asarray(m["loss"]))
  assert np.all(np.isfinite(losses))
  # The same seed gives the same numbers.
  again = step.make_step(method, 10.0, controls=ALL_ON)
  s1, m1 = again(*_runs(prep, method, hps)[:3], engine.stack(hps))
  s2, m2 = again(*_runs(prep, method, hps)[:3], engine.stack(hps))
  for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
    np.testing.assert_array_equal(a, b)


def test_of_names_bad_fields_and_needs_one_support_k(tiny):
  config = tiny[0]
  for field, value in (("feature_dropout", 1.0), ("text_dropout", -0.1),
                       ("adversarial_eps", -1.0),
                       ("augment_support_k", (0, 3))):
    c = config.copy_and_resolve_references()
    c[field] = value
    with pytest.raises(ConfigError, match=field):
      controls.of([c])
  a, b = (config.copy_and_resolve_references() for _ in range(2))
  a.augment_support_k, b.augment_support_k = (1, 5), (1, 3)
  with pytest.raises(ConfigError, match="augment_support_k differs"):
    controls.of([a, b])
  b.augment_support_k, b.feature_dropout = (1, 5), 0.2
  assert controls.of([a, b]) == controls.Controls(feature_dropout=True,
                                                  support_k=(1, 5))


def test_engine_run_at_zero_trains_like_a_run_without_controls(tiny,
                                                               tmp_path):
  """Through the engine: in a group with an adversarial run, the run at
  adversarial_eps 0 ends with the params of the same run trained alone."""
  config, prep, _ = tiny

  def run(c, name):
    return engine.Run(c, prep, 0, str(tmp_path / name),
                      registry.build(c, prep))

  on = config.copy_and_resolve_references()
  on.adversarial_eps = 0.05
  alone = engine.train(registry.build(config, prep), [run(config, "a")],
                       config, str(tmp_path / "g1"))
  both = engine.train(registry.build(config, prep),
                      [run(config, "b0"), run(on, "b1")], config,
                      str(tmp_path / "g2"))
  for a, b in zip(jax.tree.leaves(alone.final_params[0]),
                  jax.tree.leaves(both.final_params[0])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(both.final_params[0]),
      jax.tree.leaves(both.final_params[1]))) > 1e-6
