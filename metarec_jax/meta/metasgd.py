"""Meta-SGD (Li et al. 2017): per-parameter inner learning rates, learned.

The rates are ordinary parameters (`params["inner_rates"]`, one array per
adapted leaf, same shape), so the outer optimizer gives them gradients
through the inner update w - alpha * g. Choices where the paper is open for
this setting: the decision MLP adapts (MeLU's leaves; adapting the embedding
tables too would double their size for per-row rates), rates start at the
config's `inner_lr` (the paper samples them in [0.005, 0.1]), one inner step
is the paper's choice but `inner_steps` is kept configurable, and the rates
are not constrained to be positive (as in the paper). Meta-SGD needs the
second-order path: with first_order the rates would get no gradient.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import traverse_util

from metarec_jax.core.types import Params, PRNGKey
from metarec_jax.meta import inner, maml


@dataclasses.dataclass(frozen=True)
class MetaSGD(maml.MAML):
  leaves: str = "decision"
  initial_rate: float = 0.05

  def init(self, key: PRNGKey, tables: dict) -> Params:
    params = self.model.init(key, tables)
    adapted, _ = inner_partition(self, params)
    rates = {k: jnp.full_like(v, self.initial_rate) for k, v in adapted.items()}
    return {**params, "inner_rates": traverse_util.unflatten_dict(rates)}

  def labels(self, params: Params) -> Params:
    base = {k: v for k, v in params.items() if k != "inner_rates"}
    labels = super().labels(base)
    if "inner_rates" in params:
      labels["inner_rates"] = jax.tree.map(lambda _: False,
                                           params["inner_rates"])
    return labels

  def rates(self, params: Params, adapted: dict, hparams):
    del hparams
    flat = traverse_util.flatten_dict(params["inner_rates"])
    return {k: flat[k] for k in adapted}


def inner_partition(method: MetaSGD, params: Params):
  """(adapted, frozen) of the model's own leaves, before rates exist."""
  return inner.partition(params, maml.MAML.labels(method, params))


def build(config, model) -> MetaSGD:
  """Second order always: with first_order the rates would get no gradient;
  the rates start at inner_lr."""
  return MetaSGD(model, config.inner_steps, False,
                 input_dropout=config.model.input_dropout,
                 initial_rate=float(config.inner_lr))
