"""Any method in a lower compute precision, its parameters kept in float32.

config.compute_dtype = "bfloat16" wraps a method (meta/registry.py) so that
its forward pass, inner loop and meta-loss run on bfloat16 copies of the
parameters, the floating feature tables and the traced hyperparameters;
the meta-gradient flows back through the casts into the float32 parameters
(the "master weights" of mixed-precision training), and the outer update
and optimiser state stay float32. Predictions and the loss come back as
float32, so evaluation, selection and serving are unchanged.

What stays float32 inside a method is the method's own business: the
closed-form heads (meta/ridge_head.py: ridge, content, mf_foldin, mf_meta)
form and solve their systems in float32, since a bfloat16 Gram matrix
loses its small diagonal precisions and XLA's CPU Cholesky has no
bfloat16 kernel. A closed-form fit (`fit`, mf_foldin)
runs in float32: it is fitted once, not stepped.

Wrapped inside meta/residual.py's Residual, so the floor's offsets (item
means near 3.6, where bfloat16's step is 0.016) are added in float32 and
the model only sees residuals in the lower precision.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch


def cast_floats(tree, dtype):
  """tree with every floating leaf cast to dtype (integers, masks and
  indices unchanged)."""
  def cast(x):
    x = jnp.asarray(x)
    return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
  return jax.tree.map(cast, tree)


def _upcast(tree):
  return cast_floats(tree, jnp.float32)


@dataclasses.dataclass(frozen=True)
class MixedPrecision:
  """Wraps a method: computes in `dtype`, keeps float32 params and outputs.

  Float tables holding counts (item_count) are cast too: bfloat16 holds
  integers exactly only up to 256, and the residual floor, which reads
  them, sits outside this wrapper. Support ratings and masks are cast too (an encoder that reads them,
  TaNP's, would otherwise promote its layers back to float32); query
  ratings stay float32, so a method's loss forms each error in float32.
  """
  base: object
  dtype: str = "bfloat16"

  def __getattr__(self, name):
    # Static flags and helpers (closed_form, pretrainer, fit, ...) are the
    # wrapped method's: the wrapper changes precision, not the contract.
    if name == "base":  # Not yet set (copying, unpickling): no recursion.
      raise AttributeError(name)
    return getattr(self.base, name)

  @property
  def rows_from_tables(self) -> bool:
    return bool(getattr(self.base, "rows_from_tables", False))

  def _low(self, params, tables, hparams=None):
    low = (cast_floats(params, self.dtype), cast_floats(tables, self.dtype))
    return low if hparams is None else low + (cast_floats(hparams,
                                                          self.dtype),)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    return self.base.init(key, tables)

  def adapt(self, params, tables, support: Support, hparams):
    params, tables, hparams = self._low(params, tables, hparams)
    return self.base.adapt(params, tables, cast_floats(support, self.dtype),
                           hparams)

  def predict(self, params, tables, adapted, query: Query):
    params, tables = self._low(params, tables)
    return self.base.predict(params, tables, adapted, query).astype(
        jnp.float32)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    params, tables, hparams = self._low(params, tables, hparams)
    batch = dataclasses.replace(
        batch, support_ratings=batch.support_ratings.astype(self.dtype),
        support_mask=batch.support_mask.astype(self.dtype))
    loss, aux = self.base.meta_loss(params, tables, batch, rng, hparams)
    return loss.astype(jnp.float32), _upcast(aux)
