"""The large-catalogue item ridge (meta/sparse_ridge.py) against lstsq and
against the kernel form (meta/als.FeatureRidge): two computations of the
same fit, and cross-fitting refitted fold by fold."""

import numpy as np

from metarec_jax.meta import als, sparse_ridge


def _problem(seed=5, n=40):
  r = np.random.default_rng(seed)
  tables = {"item": {"genre": r.integers(0, 6, size=(n, 2)),
                     "author": r.integers(1, 9, size=(n, 1))},
            "item_id": np.arange(n), "item_text": r.normal(size=(n, 3))}
  fitted = r.random(n) < 0.8
  return als.content_features(tables), fitted, r.normal(size=(n, 4))


def _lstsq(x, t, reg):
  """Ridge weights on rows x for targets centred at their mean, by lstsq."""
  centre = t.mean(0)
  a = np.concatenate([x, np.sqrt(reg) * np.eye(x.shape[1])])
  b = np.concatenate([t - centre, np.zeros((x.shape[1], t.shape[1]))])
  return np.linalg.lstsq(a, b, rcond=None)[0], centre


def test_full_fit_equals_the_kernel_form():
  x, fitted, targets = _problem()
  for reg in (0.03, 2.0):
    sparse_out = sparse_ridge.CrossFitRidge(x, fitted).predict(targets, (reg,))
    kernel_out = als.FeatureRidge(x, fitted).predict(targets, (reg,))
    np.testing.assert_allclose(sparse_out.rows, kernel_out.rows, rtol=1e-7,
                               atol=1e-9)
    # A new row's cold prediction is its prediction, as in the kernel form.
    np.testing.assert_array_equal(sparse_out.cold[~fitted],
                                  sparse_out.rows[~fitted])


def test_cold_rows_and_scores_are_refits_without_each_fold():
  x, fitted, targets = _problem(seed=6)
  dense = x.toarray()
  ridge = sparse_ridge.CrossFitRidge(x, fitted, folds=4)
  regs = (0.1, 1.0, 10.0)
  out = ridge.predict(targets, regs)
  rows = np.flatnonzero(fitted)
  fold = np.random.default_rng(0).permutation(len(rows)) % 4
  for reg, score in out.scores:
    oof = np.zeros((len(rows), targets.shape[1]))
    for k in range(4):
      w, centre = _lstsq(dense[rows[fold != k]], targets[rows[fold != k]], reg)
      oof[fold == k] = centre + dense[rows[fold == k]] @ w
    np.testing.assert_allclose(score, np.mean((oof - targets[rows]) ** 2),
                               rtol=1e-7)
    if reg == out.reg:
      np.testing.assert_allclose(out.cold[rows], oof, rtol=1e-7, atol=1e-9)
  assert out.reg == min(out.scores, key=lambda s: s[1])[0]
  assert len({s[1] for s in out.scores}) == len(regs)  # The regs differ.
