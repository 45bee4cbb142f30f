"""Each seed's residual base, chosen on that seed's validation users.

Every table row is a residual to item mean + user bias (meta/residual.py),
shrunk by two priors: item_prior pseudo-ratings pull an item's mean toward
the global mean, bias_prior pull a user's bias toward zero. How much to
shrink depends on the data (a book rated twice against a film rated two
hundred times), so it is chosen, per seed, on that seed's validation users
by the selection criterion (evaluation/selection.py) of the base alone: the
residual with a model that predicts zero. That needs no training: each
point of config.base_grid is one validation pass. The chosen values then
hold for every row of that seed; rows may still choose their own traced
values (experiments/grid.py) on top.
"""

import dataclasses
import itertools

import jax.numpy as jnp
import numpy as np

from metarec_jax.evaluation import selection
from metarec_jax.meta import base, residual

NAMES = ("bias_prior", "item_prior")


@dataclasses.dataclass(frozen=True)
class _Zero:
  """A method that predicts 0: wrapped as a residual, it is the base."""
  rows_from_tables = True

  def init(self, key, tables):
    del key, tables
    return {}

  def adapt(self, params, tables, support, hparams):
    del params, tables, hparams
    return {"n": jnp.sum(support.mask, -1)}

  def predict(self, params, tables, adapted, query):
    del params, tables, adapted
    return jnp.zeros(query.items.shape, jnp.float32)


def points(config) -> list[dict]:
  """config.base_grid's product ({} without one: the config's values)."""
  grid = config.get("base_grid") or {}
  unknown = sorted(set(grid) - set(NAMES))
  if unknown:
    raise ValueError(f"config.base_grid: {unknown}; it may list "
                     f"{', '.join(NAMES)}")
  names = sorted(grid)
  return [dict(zip(names, map(float, v)))
          for v in itertools.product(*(tuple(grid[n]) for n in names))]


def choose(config, prep) -> dict:
  """{"chosen": point, "points": [{point, validation_mae}]} for one seed's
  prepared data; ties go to the first point in the grid's order."""
  method = residual.Residual(_Zero())
  rows = []
  for point in points(config):
    hp = {**base.hparams(config), **{k: np.float32(v)
                                     for k, v in point.items()}}
    rows.append({"point": point, "validation_mae": round(
        selection.validation_mae(method, {}, prep, hp, config), 6)})
  best = min(range(len(rows)), key=lambda i: rows[i]["validation_mae"])
  return {"chosen": rows[best]["point"], "points": rows}
