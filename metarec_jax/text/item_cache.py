"""Item text -> frozen sentence embeddings, encoded once and cached on disk.

The cache is keyed by the model's weights hash and by each text's hash, so a
new seed, a new item order or a new split reuses every vector already
computed, and a changed text or model never reads a stale one.
"""

import functools
import hashlib
import os
import pathlib
import time
from typing import Optional, Sequence

from absl import logging
import numpy as np

from metarec_jax.core import assets
from metarec_jax.text import encode, weights

CACHE_VERSION = "item-text-v1"


def text_hash(text: str) -> str:
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=4)
def model_hash(model_dir: str) -> str:
  """sha256 of the folder's weights, config and tokenizer (~90 MB, < 1 s)."""
  h = hashlib.sha256(CACHE_VERSION.encode())
  folder = pathlib.Path(model_dir)
  for name in ("config.json", "model.safetensors", "tokenizer.json",
               "sentence_bert_config.json"):
    path = folder / name
    if path.is_file():
      h.update(name.encode())
      with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
          h.update(chunk)
  return h.hexdigest()[:16]


def _cache_path(model_key: str) -> pathlib.Path:
  path = assets.cache_dir() / "item_text"
  path.mkdir(parents=True, exist_ok=True)
  return path / f"{model_key}.npz"


def _read_cache(path: pathlib.Path) -> dict:
  if not path.is_file():
    return {}
  with np.load(path) as z:
    return dict(zip(z["hashes"].tolist(), z["vectors"]))


def _write_cache(path: pathlib.Path, cache: dict) -> None:
  hashes = sorted(cache)
  tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
  np.savez(tmp, hashes=np.array(hashes),
           vectors=np.stack([cache[h] for h in hashes]).astype(np.float32))
  tmp.replace(path)


def encode_cached(texts: Sequence[str], model_dir: Optional[str] = None,
                  batch_size: int = 32, encode_fn=None) -> np.ndarray:
  """float32 [len(texts), hidden], unit-norm rows; encodes only cache misses.

  Args:
    texts: one string per row (duplicates are encoded once).
    model_dir: Hugging Face BERT folder; None = the pinned all-MiniLM-L6-v2.
    batch_size: texts per jitted call of the encoder.
    encode_fn: texts -> [n, hidden] (tests pass a counter); default
      text/encode.py's encode_texts with progress and ETA logs.
  """
  folder = str(pathlib.Path(model_dir or weights.default_model_dir()).resolve())
  path = _cache_path(model_hash(folder))
  cache = _read_cache(path)
  hashes = [text_hash(t) for t in texts]
  missing = {}
  for h, t in zip(hashes, texts):
    if h not in cache:
      missing.setdefault(h, t)
  if missing:
    logging.info("Encoding %d unique uncached item texts (of %d) with %s",
                 len(missing), len(texts), folder)
    t0 = time.time()
    if encode_fn is None:
      encode_fn = functools.partial(encode.encode_texts, model_dir=folder,
                                    batch_size=batch_size)
    vectors = np.asarray(encode_fn(list(missing.values())), np.float32)
    seconds = time.time() - t0
    logging.info("Encoded %d texts in %.1fs (%.1f texts/s)", len(missing),
                 seconds, len(missing) / max(seconds, 1e-9))
    cache.update(zip(missing, vectors))
    _write_cache(path, cache)
  else:
    logging.info("All %d item texts found in %s", len(texts), path)
  return np.stack([cache[h] for h in hashes]).astype(np.float32)
