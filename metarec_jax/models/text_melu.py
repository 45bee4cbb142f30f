"""MeLU with item text features: a frozen or LoRA-adapted sentence encoder.

TextMeLUModel appends Dense(text_dim) of each item's sentence embedding to the
item vector (embeddings.Embedder's text branch). The projection is part of
the global, meta-learned parameters; the inner loop still adapts only the
decision layers, so a new item's text reaches the prediction from the first
rating on.

LoRAMeLUModel re-encodes every item's tokens each step with rank-r LoRA updates
on the encoder's query/key/value projections. The LoRA weights are global
parameters trained in the outer loop; the base encoder weights arrive in
tables["text_encoder"], an input the meta-gradient is never taken for, so
they are frozen by construction. Cost: one encoder forward and backward over
all items per meta-step (and every evaluation batch re-encodes them): a
method for an accelerator. With LoRA on the last N layers only
(data.text_lora_layers), the frozen layers below run once, at data
preparation (tables["item_token_states"]), and a step runs N layers: the
scale a CPU allows (results/lora_step_time.json).

An all-zero row of the frozen tables["item_text"] marks an item whose text
is dropped (train/controls.py text_dropout): its re-encoded vector is
zeroed too. Frozen rows are unit vectors, so no real row is all zero.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params, PRNGKey
from metarec_jax.models import embeddings, melu
from metarec_jax.text import bert, weights


@dataclasses.dataclass(frozen=True)
class TextMeLUModel(melu.MeLUModel):
  """MeLU whose item vector also holds Dense(text_dim)(item text embedding).

  Needs tables["item_text"] float32 [I, hidden] (data.text_features).
  """
  text_dim: int = 32

  @property
  def embedder(self) -> embeddings.Embedder:
    return embeddings.Embedder(self.user_fields, self.item_fields,
                               self.embed_dim, self.num_item_ids,
                               self.text_dim)


@dataclasses.dataclass(frozen=True)
class LoRAMeLUModel(TextMeLUModel):
  """TextMeLUModel whose item text embeddings come from a LoRA-adapted encoder.

  Needs tables["item_tokens"], tables["item_token_mask"] int32 [I, L] and
  tables["text_encoder"] (the frozen base params); params gain a "lora" key.
  """
  bert_config: bert.BertConfig | None = None
  lora_rank: int = 4
  lora_layers: int = 0  # > 0: LoRA on the last lora_layers layers only.
  chunk: int = 128  # Items per rematerialised chunk (lora_layers > 0).

  @property
  def encoder(self) -> bert.Bert:
    return bert.Bert(self.bert_config, self.lora_rank, self.lora_layers)

  def encode_states(self, variables, states, mask) -> jax.Array:
    """[I, L, H] frozen token states -> [I, H] through the LoRA layers, in
    chunks of items whose activations the backward pass recomputes: the
    whole catalogue's would not fit in memory for several runs. The last
    chunk is padded with copies of the last item (a real text)."""
    n, length, hidden = states.shape
    pad = -n % self.chunk
    states = jnp.pad(states, ((0, pad), (0, 0), (0, 0)), mode="edge")
    mask = jnp.pad(mask, ((0, pad), (0, 0)), mode="edge")
    one = jax.checkpoint(lambda s, m: self.encoder.apply(
        variables, s, m, method=bert.Bert.encode_states))
    out = jax.lax.map(lambda sm: one(*sm), (
        states.reshape(-1, self.chunk, length, hidden),
        mask.reshape(-1, self.chunk, length)))
    return out.reshape(-1, hidden)[:n]

  def with_text(self, lora: Params, tables: dict) -> dict:
    """tables with item_text [I, hidden] re-encoded through the LoRA."""
    variables = {"params": tables["text_encoder"], "lora": lora}
    mask = tables["item_token_mask"]
    if self.lora_layers:
      text = self.encode_states(variables, tables["item_token_states"], mask)
    else:
      text = self.encoder.apply(variables, tables["item_tokens"], mask)
    if "item_text" in tables:  # Dropped texts stay dropped.
      kept = jnp.any(jnp.asarray(tables["item_text"]) != 0, -1)
      text = jnp.where(kept[:, None], text, jnp.zeros_like(text))
    return {**tables, "item_text": text}

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_lora, k_rest = jax.random.split(key)
    lora = bert.init_lora(self.encoder, tables["text_encoder"], k_lora)
    params = super().init(k_rest, self.with_text(lora, tables))
    return {**params, "lora": lora}

  def embed_all(self, params: Params, tables: dict) -> embeddings.Embedded:
    return super().embed_all(params, self.with_text(params["lora"], tables))


TEXT_KINDS = ("text", "lora")


def with_text(model: melu.MeLUModel, kind: str, model_config, data_config,
              tables: dict) -> melu.MeLUModel:
  """`model` with item text features: "text" appends the projected frozen
  embeddings (TextMeLUModel), "lora" re-encodes the tokens through a
  LoRA-adapted encoder (LoRAMeLUModel); needs the matching data options."""
  if kind not in TEXT_KINDS:
    raise ValueError(f"text kind {kind!r}; choose from {TEXT_KINDS}")
  if "item_text" not in tables:
    raise ConfigError(f"a *_{kind} method needs item text embeddings: set "
                      "--config.data.text_features=True")
  fields = {f.name: getattr(model, f.name)
            for f in dataclasses.fields(melu.MeLUModel)}
  text_dim = model_config.text_dim
  if kind == "text":
    return TextMeLUModel(**fields, text_dim=text_dim)
  if "item_tokens" not in tables:
    raise ConfigError("a *_lora method re-encodes item tokens: set "
                      "--config.data.text_tokens > 0 (e.g. 32)")
  layers = data_config.get("text_lora_layers", 0)
  if layers and "item_token_states" not in tables:
    raise ConfigError("--config.data.text_lora_layers > 0 needs the frozen "
                      "token states; prepare the data with it set")
  encoder = weights.load_model(data_config.get("text_model_dir") or None)
  return LoRAMeLUModel(**fields, text_dim=text_dim,
                       bert_config=encoder.config,
                       lora_rank=model_config.text_lora_rank,
                       lora_layers=layers)
