"""Method registry: config -> a method object (init / loss / predict).

Every method trains through meta/step.py and is evaluated by evaluate.py on
the same tasks, so results are comparable by construction.
"""

import numpy as np

from metarec_jax.meta import content, maml
from metarec_jax.models import melu, text_melu


def build_melu_model(config, prep) -> melu.MeLU:
  m = config.model
  model = melu.MeLU(
      user_fields=prep.user_fields, item_fields=prep.item_fields,
      embed_dim=m.embed_dim, hidden=tuple(m.hidden),
      num_item_ids=prep.num_item_ids if m.item_id_embeddings else 0,
      item_id_dropout=m.item_id_dropout,
      output_bias=prep.floor_stats.global_mean)
  # Suffix `_text` / `_lora`: the same model plus item text features.
  return text_melu.for_method(model, config, prep.tables)


def build(config, prep):
  """Returns the method named by config.method."""
  if config.method in ("melu", "melu_text", "melu_lora"):
    return maml.GradientMeta(build_melu_model(config, prep),
                             config.inner_steps, config.first_order,
                             gram=config.get("gram_inner", True),
                             compute_dtype=config.get("compute_dtype",
                                                      "float32"))
  if config.method == "content":
    return content.ContentBaseline()
  from metarec_jax import zoo  # pylint: disable=g-import-not-at-top
  if config.method in zoo.METHODS:  # Lazy import: zoo builds on this module.
    return zoo.build(config, prep)
  raise ValueError(f"unknown method {config.method!r}")


def hparams(config) -> dict:
  """Traced float hyperparameters passed to loss and predict."""
  return {"inner_lr": np.float32(config.inner_lr),
          # meta/residual.py's user-bias shrinkage (0: the floor's bias).
          "bias_prior": np.float32(config.get("bias_prior", 0.0)),
          # meta/inner.task_rate: smaller inner steps on small supports.
          "support_prior": np.float32(config.get("support_prior", 0.0))}
