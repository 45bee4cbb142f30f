"""MWUF (Zhu et al., SIGIR 2021, "Learning to Warm Up Cold Item Embeddings
for Cold-start Recommendation with Meta Scaling and Shifting Networks"), on
the MeLU model, role-agnostic.

The task entity's id vector (warmup.py appends it to the decision MLP's
inputs) is warmed from a cold start:
  warm = init * scale(f) + shift(m)                                    [k]
  init   a learned vector shared by every task entity. The paper starts a
         new item at the mean of the existing items' id embeddings; here the
         task entity's kind has no id table (the model's ids belong to the
         rated side), so the shared start is a parameter instead.
  f      the task entity's features, emb.users[task] [du]; scale is the
         Meta Scaling function (Dense-relu-Dense, its output bias starting
         at 1, so scale starts near the identity).
  m      the mask-weighted mean of the support's rated entities' vectors
         (features and ids: in an item task, the users who rated the item);
         shift is the Meta Shifting function (Dense-relu-Dense).
As in the paper the shift reads who rated, not the ratings. The ratings
reach the prediction as the paper's warm-up phase does, where the new id's
embedding is then trained on its ratings: `warm` takes `inner_steps` SGD
steps of the support loss on the embedding alone (warmup.py), at a
meta-learned per-dimension rate. The paper updates the cold embedding
under the meta networks; stepping the warm one is the same up to a
per-dimension rate (scale^2), which the learned rate can absorb, and is
shared with metaemb.py. inner_steps = 0 leaves the pure meta networks.

Meta-loss: the query MSE after that warm-up, the evaluation's path
(warmup.IdWarmUp.meta_loss), with the exact gradient through the steps
(second order unless config.first_order) into everything: init, both meta
networks, the warm-up rate, the feature embeddings and the decision MLP.
The paper trains the meta networks over a frozen pretrained base; here the
base has no pretrained id space for the task entity and must learn to read
the id slot, as in metaemb.py.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Support
from metarec_jax.meta import warmup
from metarec_jax.models import embeddings


class MetaNet(nn.Module):
  """v [m] -> [dim]: Dense-relu-Dense, output bias starting at `bias`."""
  dim: int
  bias: float = 0.0

  @nn.compact
  def __call__(self, v: jax.Array) -> jax.Array:
    h = nn.relu(nn.Dense(self.dim, name="fc1")(v))
    return nn.Dense(self.dim, name="out",
                    bias_init=nn.initializers.constant(self.bias))(h)


def rater_mean(x_s: jax.Array, mask: jax.Array, du: int) -> jax.Array:
  """m [d - du]: the mask-weighted mean of the support's rated entities'
  vectors; x_s [S, d] holds the task entity's du features last
  (embeddings.task_inputs)."""
  raters = x_s[:, :x_s.shape[1] - du]
  return mask @ raters / jnp.maximum(jnp.sum(mask), 1.0)


@dataclasses.dataclass(frozen=True)
class MWUF(warmup.IdWarmUp):
  """Meta scaling and shifting of a shared initial id vector."""

  @property
  def scale_net(self) -> MetaNet:
    return MetaNet(self.id_dim, bias=1.0)

  @property
  def shift_net(self) -> MetaNet:
    return MetaNet(self.id_dim)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_shared, k_init, k_scale, k_shift = jax.random.split(key, 4)
    params, emb = self.init_shared(k_shared, tables)
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.zeros((2,), jnp.int32))
    m = rater_mean(x, jnp.ones(2), emb.users.shape[1])
    # Like a fresh id table's rows (embeddings.Embedder).
    params["init"] = 0.1 * jax.random.normal(k_init, (self.id_dim,))
    params["scale"] = self.scale_net.init(k_scale, emb.users[0])["params"]
    params["shift"] = self.shift_net.init(k_shift, m)["params"]
    return params

  def shift(self, params, emb, support: Support, x_s) -> jax.Array:
    """[k] from the support's raters (which slots are real: the mask)."""
    m = rater_mean(x_s, support.mask, emb.users.shape[1])
    return self.shift_net.apply({"params": params["shift"]}, m)

  def start(self, params, emb, support: Support, x_s) -> jax.Array:
    """warm = init * scale(features) + shift(raters)."""
    scale = self.scale_net.apply({"params": params["scale"]},
                                 emb.users[support.user])
    return params["init"] * scale + self.shift(params, emb, support, x_s)


def build(config, model) -> MWUF:
  return MWUF(model, inner_steps=config.inner_steps,
              first_order=config.first_order)
