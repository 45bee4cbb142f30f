"""`mf_foldin`: the practitioner's baseline, a biased matrix factorisation
with test users folded in (Koren, Bell & Volinsky 2009; ALS as in Hu,
Koren & Volinsky 2008).

Fitted once, in closed form, on the meta-training ratings (meta/als.py):
r ~ mu + b_u + b_i + p_u . q_i. A test user is folded in by the exact ridge
of their support onto (1, q_i) with the items fixed (ridge_head, prior 0,
precision lambda_fold): (b_u, p_u), then scored as mu + b_i + b_u + p_u . q_i.
An item without meta-training ratings (a new item) takes its bias and
factors from a ridge regression of its content (fields' multi-hot, item
text when present; als.FeatureRidge) fitted on the rated items, its reg
chosen by exact leave-one-out error there. Every item also keeps its "cold"
row (cold_bias, cold_factors): what that regression predicts for it as if
it were new (a rated item's leave-one-out prediction, a new item's own
rows). This method never reads them; mf_meta (meta/mf_meta.py) starts its
cold-item path from them.

Not trained by meta-steps: the engine calls `fit` (base.closed_form), which
runs the grid of ranks x ALS regs, folds in validation users at each fold-in
reg and keeps the point with the least validation MAE (the same
evaluation/selection.py criterion as every method's early stopping). Every
rank lives in one [I, max rank] factor table whose unused columns are 0
(their fold-in weights are then 0 too), and lambda_fold is a parameter, so
one method object and one compiled prediction serve every grid point.
Its parameters are indexed by item, so it always gets the full tables.
"""

import dataclasses
import itertools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import (als, base, inner, known_users, ridge_head,
                              sparse_ridge)


@dataclasses.dataclass(frozen=True)
class MFFoldIn:
  """Biased MF fitted by ALS, test users folded in (module docstring).

  Attributes:
    ranks, regs, fold_regs: the validation grid (ALS reg, fold-in reg).
    item_regs: the new-item regression's regs (chosen by leave-one-out).
    sweeps: ALS sweeps (user half, then item half) per fit.
  """
  closed_form = True  # Fitted by `fit`, never stepped.
  ranks: tuple = (8, 16, 32, 64)
  regs: tuple = (1.0, 5.0, 25.0, 100.0)
  fold_regs: tuple = (1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
  item_regs: tuple = (0.1, 1.0, 10.0, 100.0)
  sweeps: int = 10
  # Non-empty: a known user's fold-in starts from their pool factors, its
  # precision chosen from these (or off) on the pool (meta/known_users.py).
  known_user_precisions: tuple = ()

  @property
  def max_rank(self) -> int:
    return max(self.ranks)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    """A small random model (fit replaces it); float32 like every run.
    With known users, their leaves too (all unknown), so that a finished
    run's parameters restore into this shape (serving, a table's curve)."""
    n = len(tables["item_id"])
    known = (known_users.unknown(len(next(iter(tables["user"].values()))),
                                 self.max_rank + 1, n)
             if self.known_user_precisions else {})
    return {**known,
            "mu": jnp.zeros((), jnp.float32),
            "item_bias": jnp.zeros((n,), jnp.float32),
            "item_factors": 0.1 * jax.random.normal(
                key, (n, self.max_rank), jnp.float32),
            "cold_bias": jnp.zeros((n,), jnp.float32),
            "cold_factors": jnp.zeros((n, self.max_rank), jnp.float32),
            "log_fold_reg": jnp.log(jnp.float32(self.fold_regs[0]))}

  def adapt_task(self, params, support: Support) -> jax.Array:
    """One task's fold-in: (p_u, b_u) [R + 1]. With known users (module
    known_users) [2, R + 1]: that fold-in, for rated items, and the one
    around a known user's pool solution, for new items (the holdout chose
    its precision on new items only)."""
    phi = self.features(params, support.items)
    y = support.ratings - self.item_level(params, support.items)
    prior = jnp.zeros((phi.shape[-1],), phi.dtype)
    fold = jnp.exp(params["log_fold_reg"])
    if "user_known" not in params:
      return ridge_head.posterior_mean(phi, y, support.mask, fold, prior)
    known, precision = known_users.prior(params, support.user, prior, fold)
    return ridge_head.posterior_means(
        phi, y, support.mask, jnp.stack([fold, precision]),
        jnp.stack([prior, known.astype(phi.dtype)]))

  def item_level(self, params, items) -> jax.Array:
    """mu + b_i for items [n] -> [n]."""
    return params["mu"] + jnp.asarray(params["item_bias"])[items]

  def features(self, params, items) -> jax.Array:
    """(q_i, 1) for items [n] -> [n, R + 1]."""
    q = jnp.asarray(params["item_factors"])[items]
    return jnp.concatenate([q, jnp.ones(q.shape[:-1] + (1,), q.dtype)], -1)

  def adapt(self, params, tables, support: Support, hparams):
    del tables, hparams
    return jax.vmap(lambda s: self.adapt_task(params, s))(support)

  def predict(self, params, tables, adapted, query: Query):
    del tables
    return jax.vmap(lambda w, items: self.item_level(params, items)
                    + self.score(params, w, items))(adapted, query.items)

  def score(self, params, w, items) -> jax.Array:
    """(q_i, 1) . w for items [n]; with known users, new items (no pool
    rating) take the second fold-in (adapt_task)."""
    return known_users.scores(params, items, self.features(params, items),
                              w)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """Query MSE after the fold-in: the contract's objective (fit never
    uses it)."""
    del rng
    pred = base.adapted_predictions(self, params, tables, batch, hparams)
    losses = jax.vmap(inner.masked_mse)(pred, batch.query_ratings,
                                        batch.query_mask)
    return base.task_mean(losses, batch.task_mask), {}

  def from_factors(self, f: als.Factors, rows: dict, fold_reg) -> dict:
    """Params (float32, factors zero-padded to max_rank) of a fitted model;
    rows: item_rows' item and cold rows."""
    def pad(x):
      q = np.zeros((x.shape[0], self.max_rank), np.float32)
      q[:, :x.shape[1]] = x
      return q
    return {"mu": np.float32(f.mu),
            "item_bias": np.asarray(rows["item_bias"], np.float32),
            "item_factors": pad(rows["item_factors"]),
            "cold_bias": np.asarray(rows["cold_bias"], np.float32),
            "cold_factors": pad(rows["cold_factors"]),
            "log_fold_reg": np.log(np.float32(fold_reg))}

  def item_rows(self, f: als.Factors, rated, ridge,
                item_offset) -> tuple[dict, als.RidgePrediction]:
    """({"item_bias" [I], "item_factors" [I, R], "cold_bias",
    "cold_factors"}, the regression's output). The content regression of
    (offset + b_i, q_i) gives each item its cold row, as if it were new
    (leave-one-out for rated items); rated items keep their ALS rows, the
    others take their cold rows. The offset is what a wrapper adds per
    item (meta/residual.py: the item mean, which is the global mean for a
    new item), so the regression learns levels."""
    targets = np.concatenate([(item_offset + f.item_bias)[:, None],
                              f.items], 1)
    out = ridge.predict(targets, self.item_regs)
    cold_bias, cold_items = out.cold[:, 0] - item_offset, out.cold[:, 1:]
    return {"item_bias": np.where(rated, f.item_bias, cold_bias),
            "item_factors": np.where(rated[:, None], f.items, cold_items),
            "cold_bias": cold_bias, "cold_factors": cold_items}, out

  def fit(self, seed: int, tables: dict, ratings: dict, hparams, validate,
          item_offset=None) -> tuple[Params, dict]:
    """(params, record): the grid point with the least validate(params).

    ratings: {"user", "item": dense indices [N], "rating": [N]}, the
    meta-training ratings; validate: params -> validation MAE.
    item_offset [I]: added to the prediction outside this method (0 here).
    """
    del hparams
    num_users = len(next(iter(tables["user"].values())))
    num_items = len(tables["item_id"])
    offset = (np.zeros(num_items) if item_offset is None
              else np.asarray(item_offset, np.float64))
    rated = np.bincount(ratings["item"], minlength=num_items) > 0
    ridge_type = (als.FeatureRidge
                  if rated.sum() <= sparse_ridge.KERNEL_MAX_ROWS
                  else sparse_ridge.CrossFitRidge)
    content = als.content_features(tables)
    ridge = ridge_type(content, rated)
    grid, best = [], None
    for rank, reg in itertools.product(self.ranks, self.regs):
      f = als.fit(ratings["user"], ratings["item"], ratings["rating"],
                  num_users, num_items, rank, reg, self.sweeps, seed)
      rows, item_fit = self.item_rows(f, rated, ridge, offset)
      for fold_reg in self.fold_regs:
        params = self.from_factors(f, rows, fold_reg)
        mae = float(validate(params))
        point = {"rank": rank, "reg": reg, "fold_reg": fold_reg,
                 "item_reg": item_fit.reg, "validation_mae": round(mae, 6)}
        grid.append(point)
        logging.info("mf_foldin %s", point)
        if best is None or mae < best[0]:
          best = (mae, params, point, f)
    mae, params, point, f = best
    record = {"best_validation_mae": mae, "chosen": point, "fit_grid": grid}
    if self.known_user_precisions:
      lam, maes = known_users.choose_precision(
          ratings, num_users, num_items,
          lambda r: ridge_type(content, r), point["rank"],
          point["reg"], point["fold_reg"], self.known_user_precisions, seed,
          self.sweeps, self.item_regs, offset)
      logging.info("mf_foldin known users: pool holdout MAE %s, chose %s",
                   maes, lam)
      params = {**params, **self.known_user_params(f, ratings, num_users,
                                                   lam, rated)}
      record["known_user_precision"] = lam
      record["known_user_holdout_mae"] = {str(k): round(v, 6)
                                          for k, v in maes.items()}
    # "fit_grid", not "grid": that key is the table's row grid
    # (experiments/grid.py), which a table reads back from every row.
    return params, record

  def known_user_params(self, f: als.Factors, ratings: dict, num_users: int,
                        lam, rated) -> dict:
    """Each pool user's (p_u, b_u), padded to max_rank, who has one (none
    when lam is None: the choice was off), and which items are new (no
    pool rating: rated [I] False)."""
    vector = np.zeros((num_users, self.max_rank + 1), np.float32)
    vector[:, :f.users.shape[1]] = f.users
    vector[:, -1] = f.user_bias
    known = np.bincount(ratings["user"], minlength=num_users) > 0
    return {"user_vector": vector,
            "user_known": (known & (lam is not None)).astype(np.float32),
            "log_known_prec": np.log(np.float32(lam or 1.0)),
            "item_new": (~np.asarray(rated)).astype(np.float32)}


def build(config, model) -> MFFoldIn:
  del model  # Its own factors, no feature model.
  for name in ("mf_ranks", "mf_regs", "mf_fold_regs", "mf_item_regs"):
    values = tuple(config[name])
    if not values or min(values) <= 0:
      raise ConfigError(f"--config.{name}={values!r}: give one or more "
                        "positive values.")
  if config.mf_sweeps < 1:
    raise ConfigError(f"--config.mf_sweeps={config.mf_sweeps}: at least 1.")
  known = tuple(config.get("mf_known_user_precisions", ()))
  if known and min(known) <= 0:
    raise ConfigError(f"--config.mf_known_user_precisions={known!r}: give "
                      "positive values (or none: off).")
  return MFFoldIn(ranks=tuple(config.mf_ranks), regs=tuple(config.mf_regs),
                  fold_regs=tuple(config.mf_fold_regs),
                  item_regs=tuple(config.mf_item_regs),
                  sweeps=config.mf_sweeps, known_user_precisions=known)
