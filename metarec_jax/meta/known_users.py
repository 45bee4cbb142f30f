"""A known user's pool factors as the prior of their fold-in, its precision
chosen on the meta-training pool alone.

`mf_foldin` folds every test user in from their support with a prior of 0,
even an existing user whose (p_u, b_u) ALS already fitted on the pool. For
existing users on new items (item_cold) that discards their whole history.
With `known_user_precisions`, a user who has pool ratings gets a second
fold-in, with that pool solution as its prior mean at precision
lambda_known, and scores new items (no pool rating) with it:

  w = (Phi^T Phi + lambda_known I)^{-1} (Phi^T r + lambda_known w_pool).

Rated items keep the plain fold-in: measured on the ML-100K table, one
fold-in for both moved item_cold MAE by -0.002 and warm by +0.013, since
the precision is chosen for new items.

Validation users are never in the pool, so validation cannot choose
lambda_known. It is chosen here on a pseudo item-cold split of the pool
(no validation or test rating is read): a random 1/7 of the pool's rated
items are held out as pseudo-new items, ALS is refitted on the rest at the
chosen grid point, the held-out items take their content-regression rows
(what a new item gets), and each existing user's held-out ratings form a
task (10 query, up to 40 support). The choices include "off" (the plain
fold-in at its validation-chosen precision), so a dataset where the prior
does not help keeps the plain fold-in.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from metarec_jax.meta import als


@dataclasses.dataclass
class Holdout:
  """Pool ratings split into the refit part and held-out pseudo-new-item
  tasks: [(user, support items, support ratings, query items, query
  ratings)]."""
  user: np.ndarray
  item: np.ndarray
  rating: np.ndarray
  new_items: np.ndarray
  tasks: list


def holdout(user, item, rating, num_users: int, seed: int,
            fraction: float = 1 / 7, min_ratings: int = 13,
            max_support: int = 40) -> Holdout:
  rng = np.random.default_rng([seed, 7])
  rated = np.unique(item)
  new = rng.choice(rated, size=max(1, int(len(rated) * fraction)),
                   replace=False)
  held = np.isin(item, new)
  order = np.argsort(user[held], kind="stable")
  uh, ih, yh = user[held][order], item[held][order], rating[held][order]
  starts = np.searchsorted(uh, np.arange(num_users + 1))
  tasks = []
  for u in range(num_users):
    s, t = starts[u], starts[u + 1]
    if t - s >= min_ratings:
      p = rng.permutation(t - s)
      q, sp = p[:10], p[10:10 + max_support]
      tasks.append((u, ih[s:t][sp], yh[s:t][sp], ih[s:t][q], yh[s:t][q]))
  return Holdout(user[~held], item[~held], rating[~held], new, tasks)


def with_one(q: np.ndarray) -> np.ndarray:
  """(q, 1): the fold-in's features, bias last (as meta/mf_foldin.py)."""
  return np.concatenate([q, np.ones((len(q), 1))], 1)


def pool_vector(f: als.Factors, u: int) -> np.ndarray:
  """The user's pool solution (p_u, b_u) in the fold-in's order."""
  return np.concatenate([f.users[u], [f.user_bias[u]]])


def fold_in(phi, resid, lam: float, prior=None) -> np.ndarray:
  """The ridge fold-in of one support, prior mean `prior` (None: 0)."""
  prior = np.zeros(phi.shape[1]) if prior is None else prior
  return np.linalg.solve(phi.T @ phi + lam * np.eye(phi.shape[1]),
                         phi.T @ resid + lam * prior)


def holdout_mae(f: als.Factors, bias, factors, data: Holdout, fold_reg,
                precisions) -> dict:
  """{"off": the plain fold-in's MAE, lambda: the pool prior's MAE} over
  data.tasks; bias/factors: every item's rows (ALS rows for refit items,
  cold rows for the held-out)."""
  errors = {"off": []} | {lam: [] for lam in precisions}
  for u, s_items, s_y, q_items, q_y in data.tasks:
    phi_s, phi_q = with_one(factors[s_items]), with_one(factors[q_items])
    resid = s_y - f.mu - bias[s_items]
    level = f.mu + bias[q_items]
    errors["off"].append(np.abs(q_y - level - phi_q @ fold_in(
        phi_s, resid, fold_reg)))
    for lam in precisions:
      w = fold_in(phi_s, resid, lam, pool_vector(f, u))
      errors[lam].append(np.abs(q_y - level - phi_q @ w))
  return {k: float(np.mean(np.concatenate(v))) if v else float("inf")
          for k, v in errors.items()}


def choose_precision(ratings: dict, num_users: int, num_items: int,
                     make_ridge, rank: int, reg: float, fold_reg: float,
                     precisions, seed: int, sweeps: int,
                     item_regs, item_offset) -> tuple:
  """(lambda_known or None for off, {choice: pseudo item-cold MAE}).
  make_ridge(rated) -> the content regression of meta/mf_foldin.py, which
  learns levels: item_offset [I] + b_i (mf_foldin.item_rows)."""
  data = holdout(np.asarray(ratings["user"]), np.asarray(ratings["item"]),
                 np.asarray(ratings["rating"], np.float64), num_users, seed)
  rated = np.bincount(data.item, minlength=num_items) > 0
  f = als.fit(data.user, data.item, data.rating, num_users, num_items,
              rank, reg, sweeps, seed)
  cold = make_ridge(rated).predict(np.concatenate(
      [(item_offset + f.item_bias)[:, None], f.items], 1), item_regs).cold
  bias = np.where(rated, f.item_bias, cold[:, 0] - item_offset)
  factors = np.where(rated[:, None], f.items, cold[:, 1:])
  maes = holdout_mae(f, bias, factors, data, fold_reg, precisions)
  best = min(maes, key=maes.get)
  return (None if best == "off" else best), maes


def unknown(users: int, width: int, items: int) -> dict:
  """The known-user leaves with every user unknown (and every item rated):
  a method's init, which a fit or init_from replaces."""
  return {"user_vector": jnp.zeros((users, width), jnp.float32),
          "user_known": jnp.zeros((users,), jnp.float32),
          "log_known_prec": jnp.zeros((), jnp.float32),
          "item_new": jnp.zeros((items,), jnp.float32)}


def prior(params, user, mean, precision) -> tuple:
  """(prior mean, precision) of one user's new-item fold-in: a known
  user's pool solution (params "user_vector", "user_known",
  "log_known_prec"), else the plain fold-in's `mean` and `precision`."""
  # Serving's new-user row lies past the table: unknown, not clamped onto
  # the last user.
  table = jnp.asarray(params["user_known"])
  inside = user < table.shape[0]
  known = inside & (table[jnp.minimum(user, table.shape[0] - 1)] > 0)
  return (jnp.where(known, jnp.asarray(params["user_vector"])[user], mean),
          jnp.where(known, jnp.exp(params["log_known_prec"]), precision))


def scores(params, items, phi, w):
  """phi [n, d] of items [n], times w: w [d], or w [2, d] (the plain
  fold-in, and the known user's, which scores the items with no pool
  rating: params "item_new")."""
  if w.ndim == 1:
    return phi @ w
  new = jnp.asarray(params["item_new"])[items] > 0
  return jnp.where(new, phi @ w[1], phi @ w[0])
