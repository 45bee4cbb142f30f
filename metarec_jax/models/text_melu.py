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
all items per meta-step. Measured on the shared 2-core CPU: about 4 items/s
at 32 tokens, so minutes per meta-step for ML-100K's 1682 items (and every
evaluation batch re-encodes them): a method for an accelerator; on a CPU it
is tested on a tiny encoder only.
"""

import dataclasses

import jax

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

  @property
  def encoder(self) -> bert.Bert:
    return bert.Bert(self.bert_config, self.lora_rank)

  def with_text(self, lora: Params, tables: dict) -> dict:
    """tables with item_text [I, hidden] re-encoded through the LoRA."""
    text = self.encoder.apply(
        {"params": tables["text_encoder"], "lora": lora},
        tables["item_tokens"], tables["item_token_mask"])
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
  encoder = weights.load_model(data_config.get("text_model_dir") or None)
  return LoRAMeLUModel(**fields, text_dim=text_dim,
                       bert_config=encoder.config,
                       lora_rank=model_config.text_lora_rank)
