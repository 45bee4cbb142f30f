"""Biased matrix factorisation by alternating least squares, and a ridge
regression of item features into its factor space (numpy, float64).

  r_ui ~ mu + b_u + b_i + p_u . q_i,
  minimised: sum over ratings of the squared error + reg (b_u^2 + |p_u|^2
  + b_i^2 + |q_i|^2)

Each half-sweep solves every user's (b_u, p_u) exactly given the items,
then every item's given the users (Hu, Koren & Volinsky, ICDM 2008; Koren,
Bell & Volinsky, IEEE Computer 2009). Deterministic given the seed: the
item factors start from numpy's generator seeded by it. Used by
meta/mf_foldin.py, which folds test users in and fills new items from
`FeatureRidge`, whose leave-one-out predictions also give every rated
item the row it would get if it were new (its "cold" row).
"""

import dataclasses
from typing import NamedTuple

import numpy as np
from scipy import sparse


@dataclasses.dataclass
class Factors:
  """mu []; user_bias [U]; users [U, R]; item_bias [I]; items [I, R]."""
  mu: float
  user_bias: np.ndarray
  users: np.ndarray
  item_bias: np.ndarray
  items: np.ndarray

  def predict(self, user: np.ndarray, item: np.ndarray) -> np.ndarray:
    return (self.mu + self.user_bias[user] + self.item_bias[item]
            + np.sum(self.users[user] * self.items[item], -1))


def _segments(idx: np.ndarray, n: int):
  """(order, starts [n + 1]): ratings sorted by idx, entity e's at
  order[starts[e]:starts[e + 1]]."""
  order = np.argsort(idx, kind="stable")
  starts = np.searchsorted(idx[order], np.arange(n + 1))
  return order, starts


def solve_side(segments, other: np.ndarray, target: np.ndarray,
               reg: float, rank: int) -> np.ndarray:
  """Every entity's ridge solution [n, 1 + R]: (bias, factors) with
  features x = (1, other factors of the rated row), given as other [N, R]
  per rating, and targets [N]."""
  order, starts = segments
  x = np.concatenate([np.ones((len(target), 1)), other], 1)[order]
  y = target[order]
  out = np.zeros((len(starts) - 1, rank + 1))
  eye = reg * np.eye(rank + 1)
  for e in range(len(starts) - 1):
    s, t = starts[e], starts[e + 1]
    if s < t:
      out[e] = np.linalg.solve(x[s:t].T @ x[s:t] + eye, x[s:t].T @ y[s:t])
  return out


def fit(user: np.ndarray, item: np.ndarray, rating: np.ndarray,
        num_users: int, num_items: int, rank: int, reg: float, sweeps: int,
        seed: int) -> Factors:
  """ALS on ratings given as dense indices user [N], item [N], rating [N].
  Entities without ratings keep bias 0 and factors 0."""
  y = np.asarray(rating, np.float64)
  mu = float(np.mean(y)) if len(y) else 0.0
  rng = np.random.default_rng([seed, rank])
  items = np.zeros((num_items, rank))
  rated = np.bincount(item, minlength=num_items) > 0
  items[rated] = rng.normal(0.0, 0.1, size=(int(rated.sum()), rank))
  item_bias = np.zeros(num_items)
  users, user_bias = np.zeros((num_users, rank)), np.zeros(num_users)
  by_user, by_item = _segments(user, num_users), _segments(item, num_items)
  for _ in range(sweeps):
    sol = solve_side(by_user, items[item], y - mu - item_bias[item], reg,
                     rank)
    user_bias, users = sol[:, 0], sol[:, 1:]
    sol = solve_side(by_item, users[user], y - mu - user_bias[user], reg,
                     rank)
    item_bias, items = sol[:, 0], sol[:, 1:]
  return Factors(mu, user_bias, users, item_bias, items)


def content_features(tables: dict) -> sparse.csr_matrix:
  """Every item's fixed content [I, D], sparse: per field the
  mean-normalised multi-hot of its values (meta/content.py's
  representation), the item text embedding when present, and a constant 1."""
  parts = []
  for name in sorted(tables["item"]):
    idx = np.asarray(tables["item"][name])
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    cols = idx.reshape(-1)
    counts = np.maximum((idx > 0).sum(1), 1)
    hot = sparse.csr_matrix(((cols > 0) / counts[rows], (rows, cols)),
                            shape=(idx.shape[0], int(idx.max()) + 1))
    parts.append(hot[:, 1:])  # Index 0 is padding.
  n = len(tables["item_id"])
  if "item_text" in tables:
    parts.append(sparse.csr_matrix(np.asarray(tables["item_text"],
                                              np.float64)))
  parts.append(sparse.csr_matrix(np.ones((n, 1))))
  return sparse.hstack(parts, format="csr")


class RidgePrediction(NamedTuple):
  """A FeatureRidge's output at its chosen reg.

  rows [I, k]: every row's prediction from the fit on all fitted rows.
  cold [I, k]: every row's prediction as if it were new: a fitted row's
    exact leave-one-out prediction (the fit without that row, the centre
    kept), any other row's `rows`.
  reg: the chosen reg; scores: [[reg, leave-one-out error], ...].
  """
  rows: np.ndarray
  cold: np.ndarray
  reg: float
  scores: list


@dataclasses.dataclass
class FeatureRidge:
  """Ridge from item features into targets, fitted on the rows `fitted`.

  W = argmin |X W - (T - t)|^2 + reg |W|^2 over the fitted rows (t: their
  mean target); a row's prediction is t + x W. Solved in kernel form: X X^T
  is fitted rows squared, where D may be ~10K multi-hot columns; its
  eigendecomposition is computed once for every target and reg.
  """
  x: sparse.csr_matrix   # [I, D]
  fitted: np.ndarray     # bool [I]

  def __post_init__(self):
    self._xf = self.x[self.fitted]
    self._s, self._u = np.linalg.eigh((self._xf @ self._xf.T).toarray())

  def predict(self, targets: np.ndarray, regs) -> RidgePrediction:
    """targets [I, k] (read on the fitted rows) -> the predictions at the
    reg of `regs` with the least exact leave-one-out squared error on the
    fitted rows.

    With alpha = (K + reg I)^-1 (T - t) and G = (K + reg I)^-1, a fitted
    row's leave-one-out residual is alpha_i / G_ii (the kernel form of the
    PRESS identity), so its leave-one-out prediction is T_i - alpha_i / G_ii.
    """
    t = targets[self.fitted]
    centre = t.mean(0)
    ut = self._u.T @ (t - centre)
    scores, best = [], None
    for reg in regs:
      inv = 1.0 / (np.maximum(self._s, 0.0) + reg)
      alpha = self._u @ (inv[:, None] * ut)  # (K + reg I)^-1 (T - t)
      g_diag = np.einsum("ij,j,ij->i", self._u, inv, self._u)
      resid = alpha / g_diag[:, None]
      loo = float(np.mean(resid ** 2))
      scores.append([float(reg), loo])
      if best is None or loo < best[1]:
        best = (float(reg), loo, alpha, resid)
    reg, _, alpha, resid = best
    rows = np.asarray(centre + self.x @ (self._xf.T @ alpha))
    cold = rows.copy()
    cold[self.fitted] = t - resid
    return RidgePrediction(rows, cold, reg, scores)
