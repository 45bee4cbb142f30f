"""Meta-Embedding (Pan et al., SIGIR 2019, "Warm Up Cold-start
Advertisements: Improving CTR Predictions via Learning to Learn ID
Embeddings"), on the MeLU model, role-agnostic.

A generator G maps the task entity's feature vector f = emb.users[task]
[du] to its id vector e0 = G(f) [k] (warmup.py appends it to the decision
MLP's inputs). G is the authors' "simplest" generator: one bias-free Dense
layer with tanh, divided by 5 so that e0 starts as small as a fresh id
table's vectors.

Meta-loss, per task, the paper's two parts:
  a  = support MSE with e0                        (cold-start loss)
  eK = e0 after K = inner_steps warm-up steps     (warmup.IdWarmUp.warm_up)
  b  = query MSE with eK                          (warm-up loss)
  loss = alpha * a + (1 - alpha) * b
The paper's b follows one step; here the warm-up is the one evaluation runs
(the same K steps at the same meta-learned rate, warmup.py), so what is
trained is what is scored. The gradient goes through the steps (second
order unless config.first_order).

What trains what: every parameter gets the exact gradient of that loss; the
generator, the feature embeddings, the decision MLP and the warm-up rate
alike. The paper (and the authors' code) freeze a pretrained base model and
stop the gradient into the feature embeddings, because there the base
already holds a trained id space (the warm items' ids) that G must imitate
without disturbing it. Here the task entity has no pretrained ids: the
decision MLP's id slot exists only for e0 and its warm-ups, so the base
must learn to read it, and these losses are its only signal for that. Both
terms are squared errors on the task's real ratings, so they are ordinary
training data for the base too. A split (e.g. base by b alone) would also
make the optimised objective differ from the reported meta-loss, which the
conformance checks compare with finite differences.

The task entity's text is not used: the tables hold text for the rated side
only (tables["item_text"]).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Support
from metarec_jax.meta import warmup


class Generator(nn.Module):
  """f [du] -> e0 [dim]."""
  dim: int

  @nn.compact
  def __call__(self, f: jax.Array) -> jax.Array:
    return jnp.tanh(nn.Dense(self.dim, use_bias=False, name="dense")(f)) / 5.0


@dataclasses.dataclass(frozen=True)
class MetaEmb(warmup.IdWarmUp):
  """Attributes (beyond IdWarmUp's): alpha, the cold-start loss's weight
  (the paper: 0.1)."""
  alpha: float = 0.1

  @property
  def cold_weight(self) -> float:
    return self.alpha

  @property
  def generator(self) -> Generator:
    return Generator(self.id_dim)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_shared, k_gen = jax.random.split(key)
    params, emb = self.init_shared(k_shared, tables)
    params["generator"] = self.generator.init(k_gen, emb.users[0])["params"]
    return params

  def start(self, params, emb, support: Support, x_s) -> jax.Array:
    """e0 = G(the task entity's features): no rating enters."""
    del x_s
    return self.generator.apply({"params": params["generator"]},
                                emb.users[support.user])


def build(config, model) -> MetaEmb:
  return MetaEmb(model, inner_steps=config.inner_steps,
                 first_order=config.first_order, alpha=config.metaemb_alpha)
