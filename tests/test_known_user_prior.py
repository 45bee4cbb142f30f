"""experiments/known_user_prior.py: its fold-ins against independent
computations (ALS's own user solve; the limits of the prior precision)."""

import numpy as np

from metarec_jax.experiments import known_user_prior
from metarec_jax.meta import als


def _data(seed=0, users=30, items=40, rank=3):
  rng = np.random.default_rng(seed)
  u = np.repeat(np.arange(users), 34)
  i = np.concatenate([rng.choice(items, 34, replace=False)
                      for _ in range(users)])
  p, q = rng.normal(size=(users, rank)), rng.normal(size=(items, rank))
  y = 3.5 + np.sum(p[u] * q[i], 1) + 0.3 * rng.normal(size=len(u))
  return u, i, y


def test_holdout_keeps_new_items_out_of_the_refit_pool():
  u, i, y = _data()
  data = known_user_prior.holdout(u, i, y, 30, seed=0)
  assert not np.isin(data.item, data.new_items).any()
  assert len(data.item) + sum(len(t[1]) + len(t[3]) for t in data.tasks) \
      <= len(i)
  for _, s_items, _, q_items, _ in data.tasks:
    assert len(q_items) == 10
    assert np.isin(s_items, data.new_items).all()
    assert np.isin(q_items, data.new_items).all()


def test_fold_ins_match_als_and_their_limits():
  u, i, y = _data()
  data = known_user_prior.holdout(u, i, y, 30, seed=0, fraction=0.5)
  assert data.tasks
  reg = 2.0
  f = als.fit(data.user, data.item, data.rating, 30, 40, 3, reg, 5, 0)
  # Held-out items get arbitrary rows here (the method's cold rows).
  rng = np.random.default_rng(1)
  bias = f.item_bias + rng.normal(size=40) * np.isin(np.arange(40),
                                                     data.new_items)
  factors = f.items + rng.normal(size=f.items.shape) * 0.5
  out = known_user_prior.score(f, bias, factors, data, reg,
                               lams=(1e-9, 1e9))
  # pool_prior at an infinite precision is pool_only; at none, the fold-in.
  np.testing.assert_allclose(out["pool_prior_1e+09"], out["pool_only"],
                             rtol=1e-5)
  np.testing.assert_allclose(out["pool_prior_1e-09"], out["fold_in_1e-09"],
                             rtol=1e-5)
  # pool_exact, task by task, against ALS's own user solve on the pool
  # ratings plus the support (items fixed at the same rows).
  errs = []
  for user, s_items, s_y, q_items, q_y in data.tasks:
    mine = data.user == user
    items_all = np.concatenate([data.item[mine], s_items])
    rows = np.concatenate([f.items[data.item[mine]], factors[s_items]])
    levels = np.concatenate([f.item_bias[data.item[mine]], bias[s_items]])
    target = np.concatenate([data.rating[mine], s_y]) - f.mu - levels
    sol = als.solve_side(als._segments(np.zeros(len(items_all), int), 1),
                         rows, target, reg, 3)[0]
    pred = f.mu + bias[q_items] + sol[0] + factors[q_items] @ sol[1:]
    errs.append(np.abs(q_y - pred))
  np.testing.assert_allclose(out["pool_exact"],
                             np.mean(np.concatenate(errs)), rtol=1e-6)
