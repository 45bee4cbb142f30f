"""Properties particular methods promise, on toy shapes (what every method
promises is test_conformance.py's)."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from configs.tables import coldstart as table_config
from metarec_jax.core.types import TaskBatch
from metarec_jax.meta import base, melu, registry, residual
from metarec_jax.models.embeddings import task_inputs as melu_inputs

T, S, Q, USERS, ITEMS = 3, 4, 3, 5, 7
HP = {"inner_lr": np.float32(0.1), "bias_prior": np.float32(0.0),
      "support_prior": np.float32(0.0)}


def toy_prep():
  rng = np.random.default_rng(0)
  tables = {"user": {"age": rng.integers(1, 4, (USERS, 1)).astype(np.int32)},
            "item": {"genre": rng.integers(0, 5, (ITEMS, 2)).astype(np.int32)},
            "item_id": np.array([1, 2, 3, 4, 0, 0, 5], np.int32),
            "item_mean": np.linspace(2.0, 4.5, ITEMS).astype(np.float32)}
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
  return registry.build(toy_config(method, inner_steps), prep), prep.tables


def predict(method, params, tables, batch, hparams=HP):
  return jax.jit(functools.partial(base.adapted_predictions, method))(
      params, tables, batch, hparams)


def loss(method, params, tables, batch, rng, hparams=HP):
  return jax.jit(lambda *a: method.meta_loss(*a)[0])(params, tables, batch,
                                                      rng, hparams)


def test_metasgd_rates_receive_gradients():
  method, tables = build("metasgd")
  params = method.init(jax.random.key(0), tables)
  grads = jax.jit(jax.grad(lambda p: method.meta_loss(
      p, tables, toy_batch(), jax.random.key(1), HP)[0]))(params)
  flat = traverse_util.flatten_dict(grads["inner_rates"])
  assert set(k[0] for k in flat) == {"decision"}
  assert all(float(jnp.abs(g).sum()) > 0 for g in flat.values())
  # The rates are the ones used: with rates 0 the inner loop does nothing.
  zero = {**params, "inner_rates": jax.tree.map(jnp.zeros_like,
                                                params["inner_rates"])}
  no_adapt = melu.MeLU(method.model, 0, True)
  np.testing.assert_allclose(
      predict(method, zero, tables, toy_batch()),
      predict(no_adapt, params, tables, toy_batch()), rtol=1e-6)


def test_tanp_has_no_inner_gradient_but_reads_the_support():
  method, tables = build("tanp")
  params = method.init(jax.random.key(0), tables)
  # FiLM starts at identity; give it weights so o reaches the prediction.
  film = params["decoder"]["film1"]["kernel"]
  params["decoder"]["film1"]["kernel"] = jax.random.normal(
      jax.random.key(3), film.shape)
  batch = toy_batch()
  pred = predict(method, params, tables, batch,
                 {**HP, "inner_lr": np.float32(0.0)})
  huge = predict(method, params, tables, batch,
                 {**HP, "inner_lr": np.float32(1e3)})
  np.testing.assert_array_equal(pred, huge)  # No rate, so no inner step.
  flipped = batch.replace(support_ratings=(6.0 - batch.support_ratings)
                          * batch.support_mask)
  assert np.max(np.abs(predict(method, params, tables, flipped)
                       - pred)) > 1e-4
  jaxpr = str(jax.make_jaxpr(lambda p: base.adapted_predictions(
      method, p, tables, batch, HP))(params))
  assert "scan" not in jaxpr  # No inner loop at all.


def test_finetune_with_zero_steps_equals_global():
  ft0, tables = build("finetune", inner_steps=0)
  glob, _ = build("global")
  params = glob.init(jax.random.key(0), tables)
  batch = toy_batch()
  np.testing.assert_array_equal(predict(ft0, params, tables, batch),
                                predict(glob, params, tables, batch))
  ft3, _ = build("finetune", inner_steps=3)
  assert np.max(np.abs(predict(ft3, params, tables, batch)
                       - predict(glob, params, tables, batch))) > 1e-4


def test_untrained_mamo_is_melu():
  """Zero bias and fast-weight memories: the personalised start is theta."""
  mamo, tables = build("mamo")
  params = mamo.init(jax.random.key(0), tables)
  plain = melu.MeLU(mamo.model, mamo.inner_steps, True, gram=False)
  shared = {"embed": params["embed"], "decision": params["decision"]}
  np.testing.assert_allclose(predict(mamo, params, tables, toy_batch()),
                             predict(plain, shared, tables, toy_batch()),
                             rtol=1e-5)


def test_mamo_reads_both_memories_by_attention():
  """Known answer with nonzero memories and no inner step: the user's start
  is theta - a^T M_B, its first kernel gains a^T M_UI, a = softmax(5 cos(p_u,
  M_P)) on the user's profile embedding."""
  mamo, tables = build("mamo", inner_steps=0)
  params = mamo.init(jax.random.key(0), tables)
  rng = np.random.default_rng(1)
  memory = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape),
                                              jnp.float32), params["memory"])
  params = {**params, "memory": memory}
  batch = toy_batch()
  got = np.asarray(predict(mamo, params, tables, batch))
  emb = mamo.model.embed_all(params, tables)
  for t in range(T):
    p_u = np.asarray(emb.users[batch.user[t]])
    keys = np.asarray(memory["keys"])
    cos = keys @ p_u / (np.linalg.norm(keys, axis=1) * np.linalg.norm(p_u)
                        + 1e-8)
    a = np.exp(5 * cos) / np.exp(5 * cos).sum()
    dec = jax.tree.map(lambda w, b: w - np.tensordot(a, b, 1),
                       params["decision"], memory["bias"])
    dec["fc1"]["kernel"] = dec["fc1"]["kernel"] + np.tensordot(
        a, memory["fast"], 1)
    x_q = np.asarray(jax.vmap(lambda u, q: melu_inputs(emb, u, q))(
        batch.user, batch.query_items))[t]
    want = mamo.model.decide({"decision": dec}, x_q)
    np.testing.assert_allclose(got[t], want, rtol=1e-5, atol=1e-6)
  # Zero memories give a different answer: the memories are read.
  plain = np.asarray(predict(mamo, {**params, "memory": jax.tree.map(
      jnp.zeros_like, memory)}, tables, batch))
  assert np.abs(plain - got).max() > 1e-3


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
  dec_only = melu.MeLU(maml_m.model, maml_m.inner_steps, True, gram=False)
  a = predict(maml_m, params, tables, batch)
  b = predict(dec_only, params, tables, batch)
  assert np.max(np.abs(a - b)) > 1e-6


@pytest.mark.parametrize("bias_prior", [0.0, 4.0])
def test_residual_with_a_zero_model_is_the_item_mean_user_bias_floor(
    bias_prior):
  """bias_prior = 0 is the floor; > 0 shrinks the user bias (Koren 2008):
  sum of the support residuals over (K + bias_prior)."""
  c = toy_config("global")
  c.model.residual = True
  prep = toy_prep()
  tables = prep.tables
  item_mean = tables["item_mean"]
  method = registry.build(c, prep)
  assert isinstance(method, residual.Residual)
  params = method.init(jax.random.key(0), tables)
  params["decision"]["out"] = jax.tree.map(jnp.zeros_like,
                                           params["decision"]["out"])
  batch = toy_batch()
  hp = {**HP, "bias_prior": np.float32(bias_prior)}
  pred = np.asarray(predict(method, params, tables, batch, hp))
  for t in range(T):
    n = int(batch.support_mask[t].sum())
    bias = np.sum(batch.support_ratings[t, :n]
                  - item_mean[batch.support_items[t, :n]]) / (n + bias_prior)
    np.testing.assert_allclose(pred[t],
                               item_mean[batch.query_items[t]] + bias,
                               rtol=1e-6)
