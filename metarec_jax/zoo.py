"""The method zoo: config.method -> a method object (init / loss / predict).

Keys: melu, melu_fo (MeLU, first order), maml, fomaml (all leaves adapt),
metasgd, anil, mamo, tanp, global, finetune. Every method is built on the
same MeLU feature model (models/melu.py) so the comparison isolates the
algorithm; a `_text` / `_lora` suffix swaps in the text model (#4) and keeps
the algorithm. Other keys are passed to methods.build.
"""

import dataclasses

from metarec_jax import methods
from metarec_jax.meta import (gradient, mamo, maml, metasgd, residual, tanp,
                              transfer)

METHODS = ("melu", "melu_fo", "maml", "fomaml", "metasgd", "anil", "mamo",
           "tanp", "global", "finetune")


def build(config, prep):
  """Returns the method named by config.method.

  config.model.residual wraps it as a residual to the item-mean + user-bias
  floor (meta/residual.py; needs tables["item_mean"]).
  """
  if config.model.get("residual", False):
    return residual.Residual(_build(config, prep, residual_model=True))
  return _build(config, prep)


def _build(config, prep, residual_model: bool = False):
  name = config.method
  for suffix in ("_text", "_lora"):
    name = name.removesuffix(suffix)
  if name not in METHODS or name == "melu" and name != config.method:
    return methods.build(config, prep)
  model = methods.build_melu_model(config, prep)
  if residual_model:  # The floor is the offset: the model starts at zero.
    model = dataclasses.replace(model, output_bias=0.0)
  steps, fo = config.inner_steps, config.first_order
  drop = config.model.get("input_dropout", 0.0)
  if name == "melu":
    return maml.GradientMeta(model, steps, fo)
  if name == "melu_fo":
    return maml.GradientMeta(model, steps, True)
  if name in ("maml", "fomaml", "anil"):
    adapt = "head" if name == "anil" else "all"
    return gradient.TaskGradientMeta(model, steps, fo or name == "fomaml",
                                     adapt, drop)
  if name == "metasgd":
    return metasgd.MetaSGD(model, steps, False, input_dropout=drop,
                           initial_rate=float(config.inner_lr))
  if name == "mamo":
    return mamo.MAMO(model, steps, fo, config.model.get("memory_slots", 3))
  if name == "tanp":
    return tanp.TaNP(model, config.model.get("z_dim", 32),
                     config.model.get("clusters", 8),
                     config.get("kl_weight", 0.1),
                     config.get("cluster_weight", 0.1))
  if name == "global":
    return transfer.GlobalModel(model)
  return transfer.FineTune(model, steps)
