"""MeLU (Lee et al., KDD 2019): feature embeddings + a decision MLP.

The embeddings are learned globally; the decision layers (64-64-1) are the
part the inner loop adapts per user. The model is a small object holding
static config with pure functions; flax modules are used only via apply().
"""

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.models import embeddings
from metarec_jax.core.types import Params, PRNGKey

Array = jax.Array


class DecisionMLP(nn.Module):
  """x [n, d] -> rating prediction [n]."""
  hidden: Sequence[int] = (64, 64)
  output_bias: float = 0.0

  @nn.compact
  def __call__(self, x: Array) -> Array:
    for i, h in enumerate(self.hidden):
      x = nn.relu(nn.Dense(h, name=f"fc{i + 1}")(x))
    out = nn.Dense(1, name="out",
                   bias_init=nn.initializers.constant(self.output_bias))(x)
    return out[..., 0]


@dataclasses.dataclass(frozen=True)
class MeLUModel:
  """Static config of a MeLU model; every method is a pure function.

  Attributes:
    user_fields, item_fields: ((name, vocab_size), ...).
    embed_dim: per-field embedding size (MeLU: 32).
    hidden: decision layer sizes (MeLU: 64, 64).
    num_item_ids: > 0 adds item-id embeddings for existing items.
    item_id_dropout: during meta-training, the share of items whose id is
      replaced by the unknown-item id, so that vector is learned for new items.
    output_bias: initial output bias (the global mean rating).
  """
  user_fields: tuple
  item_fields: tuple
  embed_dim: int = 32
  hidden: tuple = (64, 64)
  num_item_ids: int = 0
  item_id_dropout: float = 0.1
  output_bias: float = 3.5

  @property
  def embedder(self) -> embeddings.Embedder:
    return embeddings.Embedder(self.user_fields, self.item_fields,
                               self.embed_dim, self.num_item_ids)

  @property
  def decision(self) -> DecisionMLP:
    return DecisionMLP(self.hidden, self.output_bias)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_embed, k_dec = jax.random.split(key)
    variables = self.embedder.init(k_embed, tables)
    emb = self.embedder.apply(variables, tables)
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.zeros((2,), jnp.int32))
    return {"embed": variables["params"],
            "decision": self.decision.init(k_dec, x)["params"]}

  def adapt_labels(self, params: Params) -> Params:
    """True for leaves the inner loop adapts: the decision layers."""
    return {k: jax.tree.map(lambda _, a=(k == "decision"): a, v)
            for k, v in params.items()}

  def embed_all(self, params: Params, tables: dict) -> embeddings.Embedded:
    """Every user's and item's vectors; computed once per step."""
    return self.embedder.apply({"params": params["embed"]}, tables)

  def drop_ids(self, rng: PRNGKey, shape) -> Array | None:
    """Which items lose their id during meta-training (None: no dropout)."""
    if not self.num_item_ids or self.item_id_dropout <= 0:
      return None
    return jax.random.bernoulli(rng, self.item_id_dropout, shape)

  def decide(self, params: Params, x: Array) -> Array:
    return self.decision.apply({"params": params["decision"]}, x)
