"""Item text features: caching, wiring, gradients, LoRA freezing (the
content baseline's use of text: test_ridge.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import TaskBatch
from metarec_jax.data import item_text
from metarec_jax.meta import base, melu
from metarec_jax.models import melu as melu_model
from metarec_jax.models import text_melu
from metarec_jax.text import bert, encode, item_cache
from metarec_jax.train import engine, step


class CountingEncoder:
  """Fake encoder: a text -> a fixed pseudo-random unit vector; counts texts."""

  def __init__(self, dim=8):
    self.dim, self.calls = dim, []

  def __call__(self, texts):
    self.calls.append(list(texts))
    out = np.stack([np.random.default_rng(
        int(item_cache.text_hash(t)[:8], 16)).normal(size=self.dim)
                    for t in texts]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def fake_model_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("METAREC_CACHE_DIR", str(tmp_path / "cache"))
  folder = tmp_path / "model"
  folder.mkdir()
  (folder / "config.json").write_text('{"fake": 1}')
  item_cache.model_hash.cache_clear()
  return folder


def test_cache_hit_does_not_reencode(fake_model_dir):
  enc = CountingEncoder()
  texts = ["Toy Story (1995)", "Heat (1995)", "Toy Story (1995)", ""]
  first = item_cache.encode_cached(texts, str(fake_model_dir), encode_fn=enc)
  assert first.shape == (4, 8) and first.dtype == np.float32
  assert len(enc.calls[0]) == 3  # The duplicate is encoded once.
  np.testing.assert_array_equal(first[0], first[2])
  # Another order and one new text: only the new text is encoded.
  again = item_cache.encode_cached(["Heat (1995)", "Fargo (1996)"],
                                  str(fake_model_dir), encode_fn=enc)
  assert enc.calls[1:] == [["Fargo (1996)"]]
  np.testing.assert_array_equal(again[0], first[1])
  item_cache.encode_cached(texts, str(fake_model_dir), encode_fn=enc)
  assert len(enc.calls) == 2


def test_cache_is_keyed_by_model(fake_model_dir):
  enc = CountingEncoder()
  item_cache.encode_cached(["Heat (1995)"], str(fake_model_dir), encode_fn=enc)
  (fake_model_dir / "config.json").write_text('{"fake": 2}')
  item_cache.model_hash.cache_clear()
  item_cache.encode_cached(["Heat (1995)"], str(fake_model_dir), encode_fn=enc)
  assert len(enc.calls) == 2


def test_pipeline_adds_item_text_table(fake_model_dir, monkeypatch):
  from configs import melu as melu_config  # pylint: disable=g-import-not-at-top
  from metarec_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  enc = CountingEncoder(dim=384)
  real = item_cache.encode_cached
  monkeypatch.setattr(item_cache, "encode_cached", lambda texts, model_dir: (
      real(texts, str(fake_model_dir), encode_fn=enc)))
  config = melu_config.get_config("ml100k,text,smoke")
  config.data.use_tfds = False
  prep = pipeline.prepare(config.data, seed=0)
  table = prep.tables["item_text"]
  assert table.shape == (len(prep.items), 384) and table.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(table, axis=1), 1.0, rtol=1e-5)
  # Row i is the text of dense item i (Toy Story is ML-100K item 1).
  toy = enc(item_text.item_texts(sources_text(), [1]))
  np.testing.assert_allclose(table[prep.items.index([1])[0]], toy[0],
                             rtol=1e-6)
  # Text options must not change the task fingerprint (tasks are shared).
  plain = melu_config.get_config("ml100k,smoke")
  plain.data.use_tfds = False
  assert (pipeline.fingerprint(plain.data, 0)
          == pipeline.fingerprint(config.data, 0))


def sources_text():
  from metarec_jax.data import sources  # pylint: disable=g-import-not-at-top
  return sources.load_ml100k().item_text


# --- Toy tables and tasks for the model tests. ---

N_ITEMS, TEXT_DIM = 6, 16
HP = {"inner_lr": np.float32(0.05), "bias_prior": np.float32(0.0),
      "support_prior": np.float32(0.0)}


def toy_tables(rng=0):
  r = np.random.default_rng(rng)
  text = r.normal(size=(N_ITEMS, TEXT_DIM)).astype(np.float32)
  return {"user": {"age": np.array([[1], [2]], np.int32)},
          "item": {"genre": np.array([[1], [2], [1], [3], [2], [3]],
                                     np.int32)},
          "item_id": np.array([1, 2, 3, 0, 0, 0], np.int32),
          "item_text": text / np.linalg.norm(text, axis=1, keepdims=True)}


def toy_batch():
  f = lambda x: jnp.asarray(x, jnp.float32)
  return TaskBatch(
      user=jnp.array([0, 1], jnp.int32),
      support_items=jnp.array([[0, 1, 2, 0], [1, 2, 0, 0]], jnp.int32),
      support_ratings=f([[5, 3, 4, 0], [2, 4, 1, 0]]),
      support_mask=f([[1, 1, 1, 0], [1, 1, 1, 0]]),
      query_items=jnp.array([[3, 4], [5, 3]], jnp.int32),
      query_ratings=f([[4, 2], [5, 1]]),
      query_mask=f([[1, 1], [1, 1]]),
      task_mask=f([1, 1]))


def toy_model(cls=text_melu.TextMeLUModel, **kw):
  return cls(user_fields=(("age", 2),), item_fields=(("genre", 3),),
             embed_dim=4, hidden=(8,), num_item_ids=3, item_id_dropout=0.0,
             text_dim=3, **kw)


def test_text_projection_gets_gradients_and_moves_new_items():
  tables, batch = toy_tables(), toy_batch()
  method = melu.MeLU(toy_model(), inner_steps=2)
  params = method.init(jax.random.key(0), tables)
  grads = jax.jit(jax.grad(lambda p: method.meta_loss(
      p, tables, batch, jax.random.key(1), HP)[0]))(params)
  proj = grads["embed"]["item_text_proj"]
  assert float(jnp.abs(proj["kernel"]).sum()) > 0
  # New items (ids 3..5 share the unknown id and, here, genres) differ only
  # by text; changing one new item's text changes only its prediction.
  predict = jax.jit(lambda t: base.adapted_predictions(method, params, t,
                                                       batch, HP))
  pred = predict(tables)
  other = dict(tables, item_text=tables["item_text"].copy())
  other["item_text"][5] = -other["item_text"][5]
  pred2 = predict(other)
  assert float(jnp.abs(pred2[1, 0] - pred[1, 0])) > 1e-6
  np.testing.assert_allclose(pred2[0], pred[0], rtol=1e-6)


def test_method_without_text_table_names_the_option():
  model = melu_model.MeLUModel(user_fields=(), item_fields=())
  with pytest.raises(ConfigError, match="text_features=True"):
    text_melu.with_text(model, "text", None, None, {})


def tiny_lora_model_and_tables():
  cfg = bert.BertConfig(vocab_size=30, hidden_size=TEXT_DIM,
                        num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
  ids = jnp.zeros((1, 4), jnp.int32)
  base = bert.Bert(cfg).init(jax.random.key(7), ids, jnp.ones_like(ids))
  tables = toy_tables()
  del tables["item_text"]
  r = np.random.default_rng(3)
  tokens = r.integers(1, 30, size=(N_ITEMS, 5)).astype(np.int32)
  mask = np.ones_like(tokens)
  mask[:, 4] = 0
  tables.update(item_tokens=tokens, item_token_mask=mask,
                text_encoder=base["params"])
  model = toy_model(text_melu.LoRAMeLUModel, bert_config=cfg, lora_rank=2)
  return model, tables


def test_lora_trains_only_lora_params():
  model, tables = tiny_lora_model_and_tables()
  method = melu.MeLU(model, inner_steps=2, first_order=True)
  params = method.init(jax.random.key(0), tables)
  assert set(params) == {"embed", "decision", "lora"}
  lora_leaves = jax.tree_util.tree_leaves_with_path(params["lora"])
  assert lora_leaves and all(p[-1].key in ("a", "b") for p, _ in lora_leaves)
  # The base weights matter to the loss (their gradient is not zero)...
  loss = lambda enc: method.meta_loss(params, {**tables, "text_encoder": enc},
                                      toy_batch(), jax.random.key(1), HP)[0]
  to_base = jax.jit(jax.grad(loss))(tables["text_encoder"])
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(to_base)) > 0
  # ...yet none of them is a parameter, so no update can reach them: the
  # trained tree holds the LoRA factors, the decision layers and the
  # feature embeddings (the text projection included), nothing else.
  paths = {jax.tree_util.keystr(p) for p, _ in
           jax.tree_util.tree_leaves_with_path(params)}
  base_paths = {jax.tree_util.keystr(p) for p, _ in
                jax.tree_util.tree_leaves_with_path(tables["text_encoder"])}
  assert all(p.startswith(("['lora']", "['decision']", "['embed']"))
             for p in paths)
  assert not any(b in p for p in paths for b in base_paths
                 if "kernel" in b)
  n_base = sum(x.size for x in jax.tree.leaves(tables["text_encoder"]))
  assert sum(x.size for x in jax.tree.leaves(params)) < n_base
  # Three engine steps move the LoRA factors.
  states = engine.stack([step.init_state(method, tables, 0, 1e-2, 0.0,
                                         10.0)])
  lora0 = jax.device_get(states.params["lora"])
  step_fn = step.make_step(method, 10.0)
  run = lambda x: engine.stack([x])
  for _ in range(3):
    states, m = step_fn(states, run(tables), run(toy_batch()), run(HP))
  assert np.isfinite(np.asarray(m["loss"])).all()
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a)[0] - b).max()),
                       states.params["lora"], jax.tree.map(lambda x: x[0],
                                                           lora0))
  assert max(jax.tree.leaves(moved)) > 0
  # The adapted encoder's item vectors moved away from the base encoder's.
  trained = jax.tree.map(lambda x: x[0], states.params["lora"])
  text = model.with_text(trained, tables)["item_text"]
  base_text = bert.Bert(model.bert_config).apply(
      {"params": tables["text_encoder"]}, tables["item_tokens"],
      tables["item_token_mask"])
  assert float(jnp.abs(text - base_text).max()) > 0
def tiny_two_layer_encoder():
  cfg = bert.BertConfig(vocab_size=30, hidden_size=TEXT_DIM,
                        num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
  ids = jnp.zeros((1, 4), jnp.int32)
  params = bert.Bert(cfg).init(jax.random.key(7), ids,
                               jnp.ones_like(ids))["params"]
  r = np.random.default_rng(3)
  tokens = r.integers(1, 30, size=(N_ITEMS, 5)).astype(np.int32)
  mask = np.ones_like(tokens)
  mask[:, 3:] = 0
  return cfg, params, tokens, mask


def test_lora_on_the_last_layer_is_the_whole_encoder_from_frozen_states():
  cfg, params, tokens, mask = tiny_two_layer_encoder()
  model = bert.Bert(cfg, lora_rank=2, lora_layers=1)
  lora = bert.init_lora(model, params, jax.random.key(1))
  assert set(lora) == {"layers_1"}  # Only the last layer adapts.
  # A non-zero update, so the LoRA path matters to the comparison.
  lora = jax.tree.map(lambda x: x + 0.3, lora)
  whole = model.apply({"params": params, "lora": lora}, tokens, mask)
  # The frozen states in batches of 4 (the last one padded), then the top.
  states = encode.frozen_token_states(cfg, params, tokens, mask, 1,
                                      batch_size=4)
  assert states.shape == (N_ITEMS, 5, TEXT_DIM)
  top = model.apply({"params": params, "lora": lora}, states, mask,
                    method=bert.Bert.encode_states)
  np.testing.assert_allclose(top, whole, rtol=1e-5, atol=1e-6)
  # With the update at 0 it is the base encoder.
  zero = jax.tree.map(jnp.zeros_like, lora)
  np.testing.assert_allclose(
      model.apply({"params": params, "lora": zero}, states, mask,
                  method=bert.Bert.encode_states),
      bert.Bert(cfg).apply({"params": params}, tokens, mask),
      rtol=1e-5, atol=1e-6)


def test_lora_model_on_last_layers_keeps_dropped_texts_zero():
  cfg, params, tokens, mask = tiny_two_layer_encoder()
  tables = toy_tables()
  tables.update(item_tokens=tokens, item_token_mask=mask, text_encoder=params,
                item_token_states=encode.frozen_token_states(
                    cfg, params, tokens, mask, 1))
  model = toy_model(text_melu.LoRAMeLUModel, bert_config=cfg, lora_rank=2,
                    lora_layers=1)
  params_ = melu.MeLU(model, inner_steps=1, first_order=True).init(
      jax.random.key(0), tables)
  text = np.asarray(model.with_text(params_["lora"], tables)["item_text"])
  dropped = dict(tables, item_text=tables["item_text"].copy())
  dropped["item_text"][[1, 4]] = 0.0
  out = np.asarray(model.with_text(params_["lora"], dropped)["item_text"])
  assert not out[[1, 4]].any()
  keep = [0, 2, 3, 5]
  np.testing.assert_array_equal(out[keep], text[keep])
  assert np.all(np.abs(text).sum(1) > 0)


def test_lora_chunks_give_the_unchunked_encoding_and_gradient():
  cfg, params, tokens, mask = tiny_two_layer_encoder()
  states = encode.frozen_token_states(cfg, params, tokens, mask, 1)
  model = toy_model(text_melu.LoRAMeLUModel, bert_config=cfg, lora_rank=2,
                    lora_layers=1, chunk=4)  # 6 items: one padded chunk.
  lora = jax.tree.map(lambda x: x + 0.3, bert.init_lora(
      model.encoder, params, jax.random.key(1)))
  w = jnp.asarray(np.random.default_rng(4).normal(size=(N_ITEMS, TEXT_DIM)),
                  jnp.float32)

  def loss(lora_, chunked):
    v = {"params": params, "lora": lora_}
    out = (model.encode_states(v, states, mask) if chunked else
           model.encoder.apply(v, states, mask,
                               method=bert.Bert.encode_states))
    return jnp.sum(w * out), out

  (l1, out1), g1 = jax.value_and_grad(loss, has_aux=True)(lora, True)
  (l0, out0), g0 = jax.value_and_grad(loss, has_aux=True)(lora, False)
  np.testing.assert_allclose(out1, out0, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
