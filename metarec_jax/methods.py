"""Method registry: config -> a method object (init / loss / predict).

Every method trains through meta/step.py and is evaluated by evaluate.py on
the same tasks, so results are comparable by construction.
"""

from metarec_jax.meta import maml
from metarec_jax.models import melu


def build_melu_model(config, prep) -> melu.MeLU:
  m = config.model
  return melu.MeLU(
      user_fields=prep.user_fields, item_fields=prep.item_fields,
      embed_dim=m.embed_dim, hidden=tuple(m.hidden),
      num_item_ids=prep.num_item_ids if m.item_id_embeddings else 0,
      item_id_dropout=m.item_id_dropout,
      output_bias=prep.floor_stats.global_mean)


def build(config, prep):
  """Returns the method named by config.method."""
  if config.method == "melu":
    return maml.GradientMeta(build_melu_model(config, prep),
                             config.inner_steps, config.first_order)
  raise ValueError(f"unknown method {config.method!r}")


def hparams(config) -> dict:
  """Traced float hyperparameters passed to loss and predict."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return {"inner_lr": np.float32(config.inner_lr)}
