"""Content-only transfer baseline: item text similarity to the support set.

For a user with support ratings r_j on items j and mean m, a candidate item
i is predicted as

  pred_i = m + scale * sum_j w_ij (r_j - m),   w_i = softmax_j(cos(i, j) / t)

over the real support items, with cos the cosine similarity of the frozen
sentence embeddings (tables["item_text"], unit-norm rows). No ratings of item
i are used, so a brand-new item is scored from its text alone. `scale` and
the temperature t are the only parameters: two scalars fitted in the outer
loop on meta-training users (the same meta-step and selection on validation
users as every method), and evaluated by the same evaluate.py path.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.meta import inner
from metarec_jax.types import Params, PRNGKey, TaskBatch


def content_predict(text: jax.Array, task: TaskBatch, scale, temperature
                    ) -> jax.Array:
  """One task (unbatched fields): query predictions [Q].

  text: [I, H] unit-norm item embeddings.
  """
  mask = task.support_mask
  n = jnp.maximum(jnp.sum(mask), 1.0)
  mean = jnp.sum(mask * task.support_ratings) / n
  centred = (task.support_ratings - mean) * mask
  sim = text[task.query_items] @ text[task.support_items].T  # [Q, S]
  # A finite fill, not -inf: an all-padding task (the batch's filler) then
  # gives uniform, masked-out weights instead of NaN in the backward pass.
  logits = jnp.where(mask[None, :] > 0, sim / temperature, -1e9)
  weights = jnp.where(mask[None, :] > 0, jax.nn.softmax(logits, -1), 0.0)
  return mean + scale * (weights @ centred)


@dataclasses.dataclass(frozen=True)
class ContentBaseline:
  """Method object (init / loss / predict) for the content-only baseline.

  Attributes:
    init_scale: initial weight of the similarity-weighted residual.
    init_temperature: initial softmax temperature over cosine similarities.
  """
  init_scale: float = 1.0
  init_temperature: float = 0.1

  def init(self, key: PRNGKey, tables: dict) -> Params:
    del key
    if "item_text" not in tables:
      raise ValueError("the content baseline needs tables['item_text']: set "
                       "config.data.text_features = True")
    # Log-parametrised so the temperature stays positive.
    return {"scale": jnp.float32(self.init_scale),
            "log_temperature": jnp.log(jnp.float32(self.init_temperature))}

  def predict(self, params: Params, tables: dict, batch: TaskBatch,
              hparams) -> jax.Array:
    del hparams
    text = jnp.asarray(tables["item_text"])
    temperature = jnp.exp(params["log_temperature"])
    return jax.vmap(lambda t: content_predict(text, t, params["scale"],
                                              temperature))(batch)

  def loss(self, params: Params, tables: dict, batch: TaskBatch, rng,
           hparams) -> jax.Array:
    del rng
    pred = self.predict(params, tables, batch, hparams)
    losses = jax.vmap(inner.masked_mse)(pred, batch.query_ratings,
                                        batch.query_mask)
    w = batch.task_mask
    return jnp.sum(losses * w) / jnp.maximum(jnp.sum(w), 1.0)
