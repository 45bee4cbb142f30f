"""config.method -> a Method: the one table of names.

Every builder takes (config, model) and returns an object with the
meta/base.py contract. Wrappers compose here, once:
  `<name>_text` / `<name>_lora`  any model-based method with item text
      features (models/text_melu.py: frozen embeddings, or a LoRA encoder);
  config.model.residual           the method as a residual to the
      item-mean + user-bias floor (meta/residual.py);
  `ensemble`                      the mean of config.ensemble_size members of
      config.ensemble_method (meta/ensemble.py).
Adding a method: one file in meta/ with a `build(config, model)`, and one
line in BUILDERS.
"""

import dataclasses
import functools

from metarec_jax.core.errors import ConfigError
from metarec_jax.meta import (content, ensemble, maml, mamo, melu, metasgd,
                              residual, tanp, transfer)
from metarec_jax.meta import (metaemb, mf_foldin, mf_meta, mixed_precision,
                              mwuf, ridge)
from metarec_jax.models import melu as melu_model
from metarec_jax.models import text_melu

BUILDERS = {
    "melu": melu.build,
    "melu_fo": functools.partial(melu.build, first_order=True),
    "maml": maml.build,
    "fomaml": functools.partial(maml.build, first_order=True),
    "anil": functools.partial(maml.build, leaves="head"),
    "metasgd": metasgd.build,
    "mamo": mamo.build,
    "tanp": tanp.build,
    "global": transfer.build_global,
    "finetune": transfer.build_finetune,
    "content": content.build,
    "metaemb": metaemb.build,
    "mwuf": mwuf.build,
    "mf_meta": mf_meta.build,
    "ridge": ridge.build,
    "mf_foldin": mf_foldin.build,
}
ENSEMBLE = "ensemble"
# Methods with no `_text` name. content and mf_foldin have no feature model
# and read the item text themselves whenever the tables hold it; so that
# mf_meta starts from and competes with them on the same content, its
# model gets the text projection whenever the tables hold item text
# (TEXT_WHEN_PRESENT).
MODEL_FREE = ("content", "mf_foldin", "mf_meta")
TEXT_WHEN_PRESENT = ("mf_meta",)


def names() -> list[str]:
  """Every name config.method accepts (text suffixes on model methods)."""
  base = list(BUILDERS)
  return base + [f"{n}_{kind}" for n in base if n not in MODEL_FREE
                 for kind in text_melu.TEXT_KINDS] + [ENSEMBLE]


def parse(name: str) -> tuple[str, str]:
  """"melu_fo_text" -> ("melu_fo", "text"); "mamo" -> ("mamo", "")."""
  for kind in text_melu.TEXT_KINDS:
    base = name.removesuffix(f"_{kind}")
    if base != name and base in BUILDERS and base not in MODEL_FREE:
      return base, kind
  if name in BUILDERS:
    return name, ""
  raise ConfigError(f"--config.method={name!r}: unknown method; choose from "
                    f"{', '.join(names())}.")


def build_model(config, prep, text: str = ""):
  """The MeLU feature model every method shares (the comparison isolates
  the algorithm); residual models start at output 0, i.e. at the floor."""
  m = config.model
  model = melu_model.MeLUModel(
      user_fields=prep.user_fields, item_fields=prep.item_fields,
      embed_dim=m.embed_dim, hidden=tuple(m.hidden),
      num_item_ids=prep.num_item_ids if m.item_id_embeddings else 0,
      item_id_dropout=m.item_id_dropout,
      output_bias=prep.floor_stats.global_mean)
  if text:
    model = text_melu.with_text(model, text, m, config.data, prep.tables)
  if m.residual:
    model = dataclasses.replace(model, output_bias=0.0)
  return model


def member_config(config):
  """The config of one member of config's ensemble (config itself when the
  method is not an ensemble)."""
  if config.method != ENSEMBLE:
    return config
  if config.ensemble_method == ENSEMBLE:
    raise ConfigError("--config.ensemble_method cannot be 'ensemble'.")
  c = config.copy_and_resolve_references()
  c.method = config.ensemble_method
  return c


def build(config, prep):
  """The method config.method names, wrapped as config asks."""
  if config.method == ENSEMBLE:
    return ensemble.Ensemble(build(member_config(config), prep),
                             config.ensemble_size)
  name, text = parse(config.method)
  if name in TEXT_WHEN_PRESENT and "item_text" in prep.tables:
    text = "text"
  method = BUILDERS[name](config, build_model(config, prep, text))
  if config.get("compute_dtype", "float32") != "float32":
    method = mixed_precision.MixedPrecision(method, config.compute_dtype)
  if not config.model.residual:
    return method
  return residual.Residual(method, float(config.model.get("rating_scale",
                                                          1.0)))
