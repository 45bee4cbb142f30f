"""An ensemble: the mean prediction of E members of one method.

The members' parameters are stacked on a leading axis [E, ...], and every
function vmaps the member's over it. Training members one by one (the
engine's runs, each selected on validation) and stacking their best
parameters gives the same object as training it here: the members share
nothing, and meta_loss is the mean of their losses, so each member's
gradient is its own (scaled by 1/E, which Adam ignores).
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base


@dataclasses.dataclass(frozen=True)
class Ensemble:
  member: object
  size: int

  @property
  def rows_from_tables(self) -> bool:
    return base.rows_from_tables(self.member)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    keys = jax.random.split(key, self.size)
    return jax.vmap(lambda k: self.member.init(k, tables))(keys)

  def adapt(self, params, tables, support: Support, hparams):
    return jax.vmap(lambda p: self.member.adapt(p, tables, support,
                                                hparams))(params)

  def predict(self, params, tables, adapted, query: Query):
    preds = jax.vmap(lambda p, a: self.member.predict(p, tables, a, query))(
        params, adapted)
    return jnp.mean(preds, 0)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    rngs = jax.random.split(rng, self.size)
    losses, aux = jax.vmap(lambda p, r: self.member.meta_loss(
        p, tables, batch, r, hparams))(params, rngs)
    return jnp.mean(losses), jax.tree.map(jnp.mean, aux)


@jax.jit
def stack(member_params: list) -> Params:
  """[E] members' params -> the ensemble's params. One program per tree
  (eagerly, one per leaf shape and dtype: ~20 compiles in a quick start)."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *member_params)
