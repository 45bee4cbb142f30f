"""The item-feature ridge of meta/als.py for catalogues too large for its
kernel form, solved in feature space with a sparse factorisation.

als.FeatureRidge holds the fitted rows' kernel X X^T: n^2 floats, 11 GB for
Book-Crossing's 36,852 rated books. Here W = (X^T X + reg I)^-1 X^T (T - t)
is solved with a sparse LU of the D x D normal matrix (40,306 columns of
author, publisher and year one-hots there: about 1 s a factorisation),
each (fold, reg) factorised once and reused for every target. The
full fit's predictions equal the kernel form's exactly. Exact leave-one-out
would need every row's leverage (one solve per rated item), so the reg is
chosen by K-fold cross-fitting instead, and a fitted row's "cold"
prediction, as if it were new, is its prediction from the fit on the other
folds. Used by meta/mf_foldin.py above KERNEL_MAX_ROWS fitted rows.
"""

import dataclasses

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from metarec_jax.meta import als

# Above this many fitted rows the kernel (n^2 float64) passes 1.6 GB.
KERNEL_MAX_ROWS = 14_000


def _factor(x: sparse.csr_matrix, reg: float):
  """The sparse LU of x^T x + reg I."""
  normal = (x.T @ x + reg * sparse.identity(x.shape[1])).tocsc()
  return sparse_linalg.splu(normal)


def _solve(lu, x: sparse.csr_matrix, targets: np.ndarray):
  """(W, t): ridge weights on rows x (factorised in lu) for targets
  centred at their mean t."""
  centre = targets.mean(0)
  return lu.solve(np.asarray(x.T @ (targets - centre))), centre


@dataclasses.dataclass
class CrossFitRidge:
  """als.FeatureRidge's interface; reg and cold rows by K-fold cross-fit."""
  x: sparse.csr_matrix   # [I, D]
  fitted: np.ndarray     # bool [I]
  folds: int = 5

  def __post_init__(self):
    self._rows = np.flatnonzero(self.fitted)
    # A fixed shuffle: item ids are often in catalogue order.
    self._fold = np.random.default_rng(0).permutation(len(self._rows)) % (
        self.folds)
    # (fold or None for all rows, reg) -> (rows' features, LU): the same for
    # every target, so each ALS grid point reuses them.
    self._lus = {}

  def _fitted(self, fold, reg: float):
    key = (fold, float(reg))
    if key not in self._lus:
      rows = self._rows if fold is None else self._rows[self._fold != fold]
      x = self.x[rows]
      self._lus[key] = (x, _factor(x, reg))
    return self._lus[key]

  def predict(self, targets: np.ndarray, regs) -> als.RidgePrediction:
    """targets [I, k] (read on the fitted rows) -> predictions at the reg of
    `regs` with the least cross-fitted squared error on the fitted rows."""
    t = targets[self._rows]
    scores, best = [], None
    for reg in regs:
      out_of_fold = np.zeros_like(t)
      for k in range(self.folds):
        held = self._fold == k
        x_fit, lu = self._fitted(k, reg)
        w, centre = _solve(lu, x_fit, t[~held])
        out_of_fold[held] = centre + self.x[self._rows[held]] @ w
      error = float(np.mean((out_of_fold - t) ** 2))
      scores.append([float(reg), error])
      if best is None or error < best[1]:
        best = (float(reg), error, out_of_fold)
    reg, _, out_of_fold = best
    x_fit, lu = self._fitted(None, reg)
    w, centre = _solve(lu, x_fit, t)
    rows = np.asarray(centre + self.x @ w)
    cold = rows.copy()
    cold[self._rows] = out_of_fold
    return als.RidgePrediction(rows, cold, reg, scores)
