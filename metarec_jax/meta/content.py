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

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner


def summarise_support(support: Support) -> dict:
  """One task (unbatched): the user's mean and centred support ratings."""
  mask = support.mask
  n = jnp.maximum(jnp.sum(mask), 1.0)
  mean = jnp.sum(mask * support.ratings) / n
  return {"items": support.items, "mask": mask, "mean": mean,
          "centred": (support.ratings - mean) * mask}


def content_predict(text: jax.Array, state: dict, query_items: jax.Array,
                    scale, temperature) -> jax.Array:
  """One task: query predictions [Q]. text: [I, H] unit-norm embeddings."""
  mask = state["mask"]
  sim = text[query_items] @ text[state["items"]].T  # [Q, S]
  # A finite fill, not -inf: an all-padding task (the batch's filler) then
  # gives uniform, masked-out weights instead of NaN in the backward pass.
  logits = jnp.where(mask[None, :] > 0, sim / temperature, -1e9)
  weights = jnp.where(mask[None, :] > 0, jax.nn.softmax(logits, -1), 0.0)
  return state["mean"] + scale * (weights @ state["centred"])


@dataclasses.dataclass(frozen=True)
class ContentBaseline:
  """Method object (init / loss / predict) for the content-only baseline.

  Attributes:
    init_scale: initial weight of the similarity-weighted residual.
    init_temperature: initial softmax temperature over cosine similarities.
  """
  rows_from_tables = True  # Users and items via the tables only.
  init_scale: float = 1.0
  init_temperature: float = 0.1

  def init(self, key: PRNGKey, tables: dict) -> Params:
    del key
    if "item_text" not in tables:
      raise ConfigError("the content baseline needs item text embeddings: "
                        "set --config.data.text_features=True")
    # Log-parametrised so the temperature stays positive.
    return {"scale": jnp.float32(self.init_scale),
            "log_temperature": jnp.log(jnp.float32(self.init_temperature))}

  def adapt(self, params, tables, support: Support, hparams):
    del params, tables, hparams
    return jax.vmap(summarise_support)(support)

  def predict(self, params: Params, tables: dict, adapted,
              query: Query) -> jax.Array:
    text = jnp.asarray(tables["item_text"])
    temperature = jnp.exp(params["log_temperature"])
    return jax.vmap(lambda a, q: content_predict(
        text, a, q, params["scale"], temperature))(adapted, query.items)

  def meta_loss(self, params: Params, tables: dict, batch: TaskBatch, rng,
                hparams):
    del rng
    pred = base.adapted_predictions(self, params, tables, batch, hparams)
    losses = jax.vmap(inner.masked_mse)(pred, batch.query_ratings,
                                        batch.query_mask)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> ContentBaseline:
  del config, model  # Text similarity only: no feature model.
  return ContentBaseline()
