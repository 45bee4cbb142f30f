"""Per-seed choice of a row's traced values on that seed's validation users.

A table row may carry a small grid of traced hyperparameters (rates,
shrinkage priors: values that never change a compiled shape). Every seed
trains every grid point, all as one vmapped engine group, and each seed
keeps the point with the lowest selection criterion on its OWN validation
users. A value chosen on seed 0's validation users and reused by seed 1
would have looked at users that seed 1 may test on (ML-100K and
Book-Crossing draw new users per seed); here no seed's choice reads another
seed's users, and no test scenario is read at all.

config.grid: {row or "default": {hparam: (value, ...)}}; a row's own
entry replaces "default". The points are the product of the listed values; a row
without a grid has one point, {} (the config's own values).
"""

import itertools

import numpy as np

from metarec_jax.core import config_util

# Values a grid may list: traced per run, so points share one compile
# (meta/base.HPARAMS and the optimizer's per-run rate and decay).
TRACED = ("inner_lr", "outer_lr", "weight_decay", "bias_prior",
          "support_prior", "item_prior", "adversarial_eps",
          "adversarial_weight", "feature_dropout", "text_dropout",
          "l1_weight")


def row_grid(config, row: str) -> dict:
  """{hparam: values} of a row ({} when it has none)."""
  grid = config.get("grid") or {}
  spec = grid.get(row, grid.get("default", {}))
  spec = dict(spec.to_dict() if hasattr(spec, "to_dict") else spec)
  unknown = sorted(set(spec) - set(TRACED))
  if unknown:
    raise ValueError(f"config.grid[{row!r}]: {unknown} are not traced "
                     f"values; a grid may list {', '.join(TRACED)}")
  return spec


def points(config, row: str) -> list[dict]:
  """The row's grid points, in a fixed order ([{}] without a grid)."""
  spec = row_grid(config, row)
  names = sorted(spec)
  return [dict(zip(names, map(float, v)))
          for v in itertools.product(*(tuple(spec[n]) for n in names))]


def point_config(c, point: dict):
  """c with a grid point's values set."""
  return config_util.with_overrides(c, point) if point else c


def choose(records: list) -> int:
  """The index of the point with the lowest best validation MAE; a point
  that diverged is never chosen (all diverged: the first, whose record
  says so)."""
  maes = [np.inf if r.get("diverged_at") is not None
          else r["best_validation_mae"] for r in records]
  return int(np.argmin(maes))


def record(grid_points: list, records: list, chosen: int) -> dict:
  """The selection record of a seed: the chosen run's own record plus
  every point's criterion, so results.json shows what was compared."""
  return {**records[chosen], "grid_chosen": grid_points[chosen],
          "grid": [{"point": p, "best_validation_mae":
                    round(float(r["best_validation_mae"]), 6),
                    "best_step": r["best_step"],
                    **({"diverged_at": r["diverged_at"]}
                       if r.get("diverged_at") is not None else {})}
                   for p, r in zip(grid_points, records)]}
