"""Item text tables: every item's text embedded once by the frozen encoder.

Texts are rendered by the loaders (data/sources.py: ML-1M title, year,
genres, director, actors, plot; ML-100K title, year, genres); the vectors
come from text/item_cache.py, cached across seeds and splits.
"""

import numpy as np

from metarec_jax.core.errors import ConfigError
from metarec_jax.text import encode, item_cache, weights


def item_texts(raw_item_text: dict, item_ids: np.ndarray) -> list[str]:
  """Texts in dense item order; an item without text gets ''.

  An empty text embeds to the [CLS][SEP] vector: a shared "no text" point.
  """
  return [raw_item_text.get(int(i), "") for i in item_ids]


def add_text_tables(tables: dict, raw_item_text: dict, item_ids: np.ndarray,
                    data_config) -> None:
  """Adds the text tables that data_config asks for, in place.

  data.text_features: tables["item_text"] float32 [I, hidden], cached.
  data.text_tokens > 0 (LoRA): also int32 [I, text_tokens] "item_tokens" and
  "item_token_mask", and the frozen encoder params as "text_encoder".
  data.text_lora_layers > 0 (LoRA on the last layers only): also float32
  [I, text_tokens, hidden] "item_token_states", the output of the frozen
  layers below them, computed here once instead of in every meta-step.
  """
  if not data_config.get("text_features", False):
    return
  model_dir = data_config.get("text_model_dir") or None
  texts = item_texts(raw_item_text, item_ids)
  tables["item_text"] = item_cache.encode_cached(texts, model_dir)
  max_tokens = data_config.get("text_tokens", 0)
  if max_tokens > 0:
    tm = weights.load_model(model_dir)
    # Cut to the first max_tokens tokens ([SEP] is lost on longer texts):
    # title and year come first, and the encoder's cost grows with length.
    ids = [t[:max_tokens] for t in tm.tokenize(texts)]
    tokens, mask = weights.pad_batch(ids, max_tokens)
    tables["item_tokens"], tables["item_token_mask"] = tokens, mask
    tables["text_encoder"] = tm.params
    layers = data_config.get("text_lora_layers", 0)
    if not 0 <= layers <= tm.config.num_hidden_layers:
      raise ConfigError(f"--config.data.text_lora_layers={layers}: the text "
                        f"encoder has {tm.config.num_hidden_layers} layers "
                        "(0: LoRA on all of them).")
    if layers > 0:
      tables["item_token_states"] = encode.frozen_token_states(
          tm.config, tm.params, tokens, mask, layers)
