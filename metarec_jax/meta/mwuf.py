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
embedding is then trained on its ratings: at test time `warm` takes
`inner_steps` SGD steps of the support loss on the embedding alone
(warmup.IdWarmUp.adapt). The paper updates the cold embedding under the
meta networks; stepping the warm one is the same up to a per-dimension rate
(scale^2), and is shared with metaemb.py. inner_steps = 0 leaves the pure
meta networks.

Meta-loss: the query MSE with `warm` (no inner step), exact gradient into
everything: init, both meta networks, the feature embeddings and the
decision MLP. The paper trains the meta networks over a frozen pretrained
base; here the base has no pretrained id space for the task entity and must
learn to read the id slot, as in metaemb.py.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Support, TaskBatch
from metarec_jax.meta import base, inner, warmup
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

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Query MSE with the warm vector, over the real tasks."""
    del hparams  # No inner step in training.
    emb = self.model.embed_all(params, tables)
    drop_s, drop_q = self.id_drops(rng, batch)

    def task_loss(task: TaskBatch, d_s, d_q):
      x_s = embeddings.task_inputs(emb, task.user, task.support_items, d_s)
      x_q = embeddings.task_inputs(emb, task.user, task.query_items, d_q)
      e = self.start(params, emb, task.support, x_s)
      return inner.masked_mse(self.decide(params, x_q, e),
                              task.query_ratings, task.query_mask)

    losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> MWUF:
  return MWUF(model, config.inner_steps)
