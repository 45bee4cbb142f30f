"""Batch sentence embedding with a jitted `bert.Bert`, and text-file I/O."""

import functools
import os
import pathlib
import tempfile
import time
from typing import Callable, List, Optional, Sequence

from absl import logging
import jax
import numpy as np

from metarec_jax.core.errors import DataError
from metarec_jax.text import bert
from metarec_jax.text import weights

PathLike = weights.PathLike
# Seconds between progress lines, so a long run logs a steady heartbeat.
_LOG_EVERY_S = 10.0


class TextFileError(DataError):
  """An input text file is not valid UTF-8; the message names file and line."""


@functools.lru_cache(maxsize=None)
def _embed_fn(config: bert.BertConfig) -> Callable:
  """One jitted function per architecture; it traces once per bucket shape."""
  model = bert.Bert(config)

  @jax.jit
  def embed(params, input_ids, attention_mask):
    return model.apply({"params": params}, input_ids, attention_mask)

  return embed


def _eta(seconds: float) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def encode_texts(texts: Sequence[str],
                 model_dir: Optional[PathLike] = None,
                 batch_size: int = 64,
                 progress: bool = True) -> np.ndarray:
  """Embeds texts; returns float32 [len(texts), hidden], rows unit-norm.

  Texts are sorted by token count so each batch pads little; the batch is
  padded to a bucketed length (see `weights.bucket_length`) and, when
  short, to a fixed row count, so a long run traces only a few shapes.

  Args:
    texts: strings; empty strings are allowed ([CLS] [SEP] only).
    model_dir: a Hugging Face BERT folder; None = the pinned MiniLM.
    batch_size: texts per jitted call.
    progress: log done/total and ETA every few seconds.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  tm = weights.load_model(model_dir)
  n = len(texts)
  out = np.zeros((n, tm.config.hidden_size), np.float32)
  if n == 0:
    return out
  token_ids = tm.tokenize(texts)
  order = np.argsort([-len(t) for t in token_ids], kind="stable")
  # Fewer rows than batch_size only when all texts fit one batch; then a
  # power of two, so small calls share a few traces too.
  rows = min(batch_size, 1 << max(n - 1, 0).bit_length())
  embed = _embed_fn(tm.config)
  start = last_log = time.monotonic()
  for lo in range(0, n, rows):
    idx = order[lo:lo + rows]
    batch = [token_ids[i] for i in idx]
    length = weights.bucket_length(max(len(t) for t in batch), tm.max_length)
    ids, mask = weights.pad_batch(batch, length, rows)
    out[idx] = np.asarray(embed(tm.params, ids, mask))[:len(idx)]
    done = lo + len(idx)
    now = time.monotonic()
    if progress and (now - last_log >= _LOG_EVERY_S or done == n):
      last_log = now
      rate = done / max(now - start, 1e-9)
      logging.info("Encoded %d/%d texts (%.1f/s), ETA %s", done, n, rate,
                   _eta((n - done) / rate))
  return out


@functools.lru_cache(maxsize=None)
def _frozen_fn(config: bert.BertConfig, lora_layers: int) -> Callable:
  model = bert.Bert(config, lora_layers=lora_layers)
  return jax.jit(lambda params, ids, mask: model.apply(
      {"params": params}, ids, mask, method=bert.Bert.frozen_states))


def frozen_token_states(config: bert.BertConfig, params, tokens: np.ndarray,
                        mask: np.ndarray, lora_layers: int,
                        batch_size: int = 128) -> np.ndarray:
  """float32 [n, L, H]: the token states below the last `lora_layers`
  layers (bert.Bert.frozen_states) for int32 [n, L] tokens and mask, in
  batches of `batch_size` rows (the last one padded: one trace)."""
  n, length = tokens.shape
  out = np.zeros((n, length, config.hidden_size), np.float32)
  fn = _frozen_fn(config, lora_layers)
  for lo in range(0, n, batch_size):
    ids = np.zeros((batch_size, length), np.int32)
    m = np.zeros((batch_size, length), np.int32)
    rows = min(batch_size, n - lo)
    ids[:rows], m[:rows] = tokens[lo:lo + rows], mask[lo:lo + rows]
    out[lo:lo + rows] = np.asarray(fn(params, ids, m))[:rows]
  return out


def read_lines(path: PathLike) -> List[str]:
  """One text per line; '\\n' or '\\r\\n' ends a line; a leading BOM is dropped.

  Splits bytes on '\\n' only (str.splitlines would also split on U+2028 and
  friends, changing the row count).

  Raises:
    TextFileError: naming the file and 1-based line of the first bad byte.
  """
  with open(path, "rb") as f:
    data = f.read()
  if data.startswith(b"\xef\xbb\xbf"):
    data = data[3:]
  raw = data.split(b"\n")
  if raw and raw[-1] == b"":
    raw.pop()  # The newline that ends the last line does not start a new one.
  lines = []
  for lineno, line in enumerate(raw, start=1):
    if line.endswith(b"\r"):
      line = line[:-1]
    try:
      lines.append(line.decode("utf-8"))
    except UnicodeDecodeError as e:
      raise TextFileError(f"{path}: line {lineno} is not valid UTF-8 "
                          f"(byte {e.start} of the line: {e.reason})") from e
  return lines


def save_npy_atomic(path: PathLike, array: np.ndarray) -> None:
  """Writes `array` to `path` so readers see the old file or the whole new one."""
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.save(f, array)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def embed_file(input_path: PathLike, output_path: PathLike,
               model_dir: Optional[PathLike] = None,
               batch_size: int = 64) -> np.ndarray:
  """Embeds each line of a UTF-8 file into float32 [lines, hidden] .npy.

  The whole input is decoded before the model loads, so a bad file fails in
  a second and leaves no output.
  """
  texts = read_lines(input_path)
  logging.info("Read %d lines from %s", len(texts), input_path)
  emb = encode_texts(texts, model_dir=model_dir, batch_size=batch_size)
  save_npy_atomic(output_path, emb)
  logging.info("Wrote %s %s to %s", emb.dtype, emb.shape, output_path)
  return emb
