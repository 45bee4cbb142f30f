"""MeLU with item text features: a frozen or LoRA-adapted sentence encoder.

TextMeLU appends Dense(text_dim) of each item's sentence embedding to the
item vector (embeddings.Embedder's text branch). The projection is part of
the global, meta-learned parameters; the inner loop still adapts only the
decision layers, so a new item's text reaches the prediction from the first
rating on.

LoRAMeLU re-encodes every item's tokens each step with rank-r LoRA updates
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

from metarec_jax.models import embeddings, melu
from metarec_jax.text import bert
from metarec_jax.types import Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class TextMeLU(melu.MeLU):
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
class LoRAMeLU(TextMeLU):
  """TextMeLU whose item text embeddings come from a LoRA-adapted encoder.

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


def for_method(model: melu.MeLU, config, tables: dict) -> melu.MeLU:
  """`model` with text features when the method name asks for them.

  Suffix `_text`: TextMeLU on the frozen embeddings; `_lora`: LoRAMeLU.
  Any other name returns `model` unchanged, so every MeLU-based method gets
  a text variant by its name alone.
  """
  method, model_config = config.method, config.model
  if not method.endswith(("_text", "_lora")):
    return model
  if "item_text" not in tables:
    raise ValueError(f"method {method!r} needs item text embeddings: set "
                     "config.data.text_features = True")
  fields = {f.name: getattr(model, f.name)
            for f in dataclasses.fields(melu.MeLU)}
  text_dim = model_config.get("text_dim", 32)
  if method.endswith("_text"):
    return TextMeLU(**fields, text_dim=text_dim)
  if "item_tokens" not in tables:
    raise ValueError(f"method {method!r} re-encodes item tokens: set "
                     "config.data.text_tokens > 0 (e.g. 32)")
  from metarec_jax.text import weights  # pylint: disable=g-import-not-at-top
  encoder = weights.load_model(config.data.get("text_model_dir") or None)
  return LoRAMeLU(**fields, text_dim=text_dim, bert_config=encoder.config,
                  lora_rank=model_config.get("text_lora_rank", 4))
