"""Item text -> frozen sentence embeddings, encoded once and cached on disk.

Every item's text (data/sources.py renders it: ML-1M title, year, genres,
director, actors, plot; ML-100K title, year, genres) is embedded once by the
frozen encoder. The cache is keyed by the model's weights hash and by each
text's hash, so a new seed, a new item order or a new split reuses every
vector already computed, and a changed text or model never reads a stale one.
"""

import functools
import hashlib
import os
import pathlib
import time
from typing import Optional, Sequence

from absl import logging
import numpy as np

from metarec_jax.data import assets

CACHE_VERSION = "item-text-v1"


def item_texts(raw_item_text: dict, item_ids: np.ndarray) -> list[str]:
  """Texts in dense item order; an item without text gets ''.

  An empty text embeds to the [CLS][SEP] vector: a shared "no text" point.
  """
  return [raw_item_text.get(int(i), "") for i in item_ids]


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
  from metarec_jax.text import encode, weights  # pylint: disable=g-import-not-at-top
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


def add_text_tables(tables: dict, raw_item_text: dict, item_ids: np.ndarray,
                    data_config) -> None:
  """Adds the text tables that data_config asks for, in place.

  data.text_features: tables["item_text"] float32 [I, hidden], cached.
  data.text_tokens > 0 (LoRA): also int32 [I, text_tokens] "item_tokens" and
  "item_token_mask", and the frozen encoder params as "text_encoder".
  """
  if not data_config.get("text_features", False):
    return
  model_dir = data_config.get("text_model_dir") or None
  texts = item_texts(raw_item_text, item_ids)
  tables["item_text"] = encode_cached(texts, model_dir)
  max_tokens = data_config.get("text_tokens", 0)
  if max_tokens > 0:
    from metarec_jax.text import weights  # pylint: disable=g-import-not-at-top
    tm = weights.load_model(model_dir)
    # Cut to the first max_tokens tokens ([SEP] is lost on longer texts):
    # title and year come first, and the encoder's cost grows with length.
    ids = [t[:max_tokens] for t in tm.tokenize(texts)]
    tokens, mask = weights.pad_batch(ids, max_tokens)
    tables["item_tokens"], tables["item_token_mask"] = tokens, mask
    tables["text_encoder"] = tm.params
