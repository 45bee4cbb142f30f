"""Every zoo method on toy shapes, and the properties each method promises."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from configs.tables import coldstart as table_config
from metarec_jax import zoo
from metarec_jax.meta import maml, step as meta
from metarec_jax.types import TaskBatch

T, S, Q, USERS, ITEMS = 3, 4, 3, 5, 7
HP = {"inner_lr": np.float32(0.1)}


def toy_prep():
  rng = np.random.default_rng(0)
  tables = {"user": {"age": rng.integers(1, 4, (USERS, 1)).astype(np.int32)},
            "item": {"genre": rng.integers(0, 5, (ITEMS, 2)).astype(np.int32)},
            "item_id": np.array([1, 2, 3, 4, 0, 0, 5], np.int32)}
  return types.SimpleNamespace(
      user_fields=(("age", 3),), item_fields=(("genre", 4),), num_item_ids=5,
      floor_stats=types.SimpleNamespace(global_mean=3.5), tables=tables)


def toy_batch(seed=0) -> TaskBatch:
  rng = np.random.default_rng(seed)
  f32 = lambda a: np.asarray(a, np.float32)
  s_mask = f32(np.arange(S)[None] < np.array([[4], [2], [3]]))
  return TaskBatch(
      user=np.array([0, 3, 4], np.int32),
      support_items=rng.integers(0, ITEMS, (T, S)).astype(np.int32),
      support_ratings=f32(rng.integers(1, 6, (T, S))) * s_mask,
      support_mask=s_mask,
      query_items=rng.integers(0, ITEMS, (T, Q)).astype(np.int32),
      query_ratings=f32(rng.integers(1, 6, (T, Q))),
      query_mask=np.ones((T, Q), np.float32),
      task_mask=np.array([1, 1, 0], np.float32))


def toy_config(method: str, inner_steps: int = 2):
  c = table_config.get_config("ml100k,smoke")
  c.method, c.inner_steps = method, inner_steps
  c.model.embed_dim, c.model.hidden = 4, (8, 8)
  c.model.z_dim, c.model.clusters = 4, 3
  c.model.residual = False  # Tested on its own below.
  return c


def build(method: str, inner_steps: int = 2):
  prep = toy_prep()
  return zoo.build(toy_config(method, inner_steps), prep), prep.tables


# melu and melu_fo are maml.GradientMeta, covered by test_train.py.
@pytest.mark.parametrize("name", [m for m in zoo.METHODS
                                  if m not in ("melu", "melu_fo")])
def test_forward_and_meta_step(name):
  method, tables = build(name)
  opt = meta.make_optimizer(1e-2, 10.0)
  state = meta.init_state(method, opt, tables, jax.random.key(0))
  before = jax.tree.map(np.array, state.params)
  batch = toy_batch()
  pred = meta.make_predict(method)(state.params, tables, batch, HP)
  assert pred.shape == (T, Q) and np.all(np.isfinite(pred))
  state, m = meta.make_meta_step(method, opt)(state, tables, batch, HP)
  assert np.isfinite(float(m["loss"])) and float(m["grad_norm"]) > 0
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), before,
                       jax.device_get(state.params))
  assert any(jax.tree.leaves(moved))


def test_padding_task_does_not_change_the_loss():
  method, tables = build("fomaml")
  params = method.init(jax.random.key(1), tables)
  batch = toy_batch()
  other = batch.replace(query_ratings=batch.query_ratings.copy())
  other.query_ratings[2] += 3.0  # Task 2 is padding (task_mask 0).
  rng = jax.random.key(2)
  assert float(method.loss(params, tables, batch, rng, HP)) == pytest.approx(
      float(method.loss(params, tables, other, rng, HP)), rel=1e-6)


def test_metasgd_rates_receive_gradients():
  method, tables = build("metasgd")
  params = method.init(jax.random.key(0), tables)
  grads = jax.grad(method.loss)(params, tables, toy_batch(),
                                jax.random.key(1), HP)
  flat = traverse_util.flatten_dict(grads["inner_rates"])
  assert set(k[0] for k in flat) == {"decision"}
  assert all(float(jnp.abs(g).sum()) > 0 for g in flat.values())
  # The rates are the ones used: with rates 0 the inner loop does nothing.
  zero = {**params, "inner_rates": jax.tree.map(jnp.zeros_like,
                                                params["inner_rates"])}
  no_adapt = maml.GradientMeta(method.model, 0, True)
  np.testing.assert_allclose(
      method.predict(zero, tables, toy_batch(), HP),
      no_adapt.predict(params, tables, toy_batch(), HP), rtol=1e-6)


def test_tanp_has_no_inner_gradient_but_reads_the_support():
  method, tables = build("tanp")
  params = method.init(jax.random.key(0), tables)
  # FiLM starts at identity; give it weights so o reaches the prediction.
  film = params["decoder"]["film1"]["kernel"]
  params["decoder"]["film1"]["kernel"] = jax.random.normal(
      jax.random.key(3), film.shape)
  batch = toy_batch()
  pred = method.predict(params, tables, batch, {"inner_lr": np.float32(0.0)})
  huge = method.predict(params, tables, batch, {"inner_lr": np.float32(1e3)})
  np.testing.assert_array_equal(pred, huge)  # No rate, so no inner step.
  flipped = batch.replace(support_ratings=(6.0 - batch.support_ratings)
                          * batch.support_mask)
  assert np.max(np.abs(method.predict(params, tables, flipped, HP)
                       - pred)) > 1e-4
  jaxpr = str(jax.make_jaxpr(method.predict)(params, tables, batch, HP))
  assert "scan" not in jaxpr  # No inner loop at all.


def test_finetune_with_zero_steps_equals_global():
  ft0, tables = build("finetune", inner_steps=0)
  glob, _ = build("global")
  params = glob.init(jax.random.key(0), tables)
  batch = toy_batch()
  np.testing.assert_array_equal(ft0.predict(params, tables, batch, HP),
                                glob.predict(params, tables, batch, HP))
  ft3, _ = build("finetune", inner_steps=3)
  assert np.max(np.abs(ft3.predict(params, tables, batch, HP)
                       - glob.predict(params, tables, batch, HP))) > 1e-4


def test_untrained_mamo_is_melu():
  """Zero bias and fast-weight memories: the personalised start is theta."""
  mamo, tables = build("mamo")
  params = mamo.init(jax.random.key(0), tables)
  melu = maml.GradientMeta(mamo.model, mamo.inner_steps, True)
  base = {"embed": params["embed"], "decision": params["decision"]}
  np.testing.assert_allclose(mamo.predict(params, tables, toy_batch(), HP),
                             melu.predict(base, tables, toy_batch(), HP),
                             rtol=1e-5)


def test_adapted_leaves_per_method():
  for name, adapted_roots in (("maml", {"embed", "decision"}),
                              ("anil", {("decision", "out")})):
    method, tables = build(name)
    params = method.init(jax.random.key(0), tables)
    flat = traverse_util.flatten_dict(method.labels(params))
    on = {k for k, v in flat.items() if v}
    if name == "maml":
      assert {k[0] for k in on} == adapted_roots
      assert len(on) == len(flat)
    else:
      assert {k[:2] for k in on} == adapted_roots


def test_maml_inner_loop_moves_the_embeddings():
  """All leaves adapt: a support set changes the query prediction through
  the embedding tables too, so MAML differs from adapting decision only."""
  maml_m, tables = build("maml")
  params = maml_m.init(jax.random.key(0), tables)
  batch = toy_batch()
  dec_only = maml.GradientMeta(maml_m.model, maml_m.inner_steps, True)
  a = maml_m.predict(params, tables, batch, HP)
  b = dec_only.predict(params, tables, batch, HP)
  assert np.max(np.abs(a - b)) > 1e-6


@pytest.mark.parametrize("bias_prior", [0.0, 4.0])
def test_residual_with_a_zero_model_is_the_item_mean_user_bias_floor(
    bias_prior):
  """bias_prior = 0 is the floor; > 0 shrinks the user bias (Koren 2008):
  sum of the support residuals over (K + bias_prior)."""
  from metarec_jax.meta import residual  # pylint: disable=g-import-not-at-top
  c = toy_config("global")
  c.model.residual = True
  prep = toy_prep()
  item_mean = np.linspace(2.0, 4.5, ITEMS).astype(np.float32)
  tables = {**prep.tables, "item_mean": item_mean}
  method = zoo.build(c, prep)
  assert isinstance(method, residual.Residual)
  params = method.init(jax.random.key(0), tables)
  params["decision"]["out"] = jax.tree.map(jnp.zeros_like,
                                           params["decision"]["out"])
  batch = toy_batch()
  hp = {**HP, "bias_prior": np.float32(bias_prior)}
  pred = np.asarray(method.predict(params, tables, batch, hp))
  for t in range(T):
    n = int(batch.support_mask[t].sum())
    bias = np.sum(batch.support_ratings[t, :n]
                  - item_mean[batch.support_items[t, :n]]) / (n + bias_prior)
    np.testing.assert_allclose(pred[t],
                               item_mean[batch.query_items[t]] + bias,
                               rtol=1e-6)
