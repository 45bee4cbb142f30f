"""Would a known user's pool factors help on new items? Measured on the
meta-training pool alone (no validation or test rating is read).

`mf_foldin` folds every test user in from their support with a prior of 0,
even an existing user whose (b_u, p_u) ALS already fitted on the pool. For
item_cold (existing users, new items) that discards a user's whole
history. This holds a random 1/7 of the pool's rated items out as
pseudo-new items, refits ALS on the rest, gives the held-out items their
content-regression rows (the cold rows mf_foldin gives new items), and
scores existing users' held-out ratings on them (tasks of >= 13 ratings:
10 query, up to 40 support) four ways:

  fold_in          the fold-in as in mf_foldin: prior mean 0, precision lam;
  pool_only        the user's pool (b_u, p_u), the support unread;
  pool_exact       the exact posterior of pool and support ratings together
                   (ALS's user solve with the support added);
  pool_prior       the fold-in with the pool solution as its prior mean,
                   isotropic precision lam.

Why the pool prior cannot simply join the tables: the tables choose on
validation users, who are never in the pool, so validation cannot see it
(docs/results.md, ML-1M goal).
"""

import numpy as np

from metarec_jax.meta import als
from metarec_jax.meta.known_users import Holdout, holdout


def _with_one(q: np.ndarray) -> np.ndarray:
  return np.concatenate([np.ones((len(q), 1)), q], 1)


def score(f: als.Factors, bias: np.ndarray, factors: np.ndarray,
          data: Holdout, reg: float, lams) -> dict:
  """{way: MAE} over data.tasks (module docstring); bias/factors: every
  item's rows (ALS rows for refit items, cold rows for the held-out)."""
  rank = factors.shape[1]
  eye = np.eye(rank + 1)
  # Each user's pool normal equations, for pool_exact.
  order = np.argsort(data.user, kind="stable")
  starts = np.searchsorted(data.user[order], np.arange(len(f.users) + 1))
  x_pool = _with_one(f.items[data.item])[order]
  y_pool = (data.rating - f.mu - f.item_bias[data.item])[order]
  errors = {"pool_only": [], "pool_exact": []}
  errors.update({f"fold_in_{lam:g}": [] for lam in lams})
  errors.update({f"pool_prior_{lam:g}": [] for lam in lams})
  for u, s_items, s_y, q_items, q_y in data.tasks:
    phi_s, phi_q = _with_one(factors[s_items]), _with_one(factors[q_items])
    resid = s_y - f.mu - bias[s_items]
    level = f.mu + bias[q_items]
    w_pool = np.concatenate([[f.user_bias[u]], f.users[u]])
    errors["pool_only"].append(np.abs(q_y - level - phi_q @ w_pool))
    x = x_pool[starts[u]:starts[u + 1]]
    y = y_pool[starts[u]:starts[u + 1]]
    w = np.linalg.solve(x.T @ x + reg * eye + phi_s.T @ phi_s,
                        x.T @ y + phi_s.T @ resid)
    errors["pool_exact"].append(np.abs(q_y - level - phi_q @ w))
    gram, rhs = phi_s.T @ phi_s, phi_s.T @ resid
    for lam in lams:
      w = np.linalg.solve(gram + lam * eye, rhs)
      errors[f"fold_in_{lam:g}"].append(np.abs(q_y - level - phi_q @ w))
      w = np.linalg.solve(gram + lam * eye, rhs + lam * w_pool)
      errors[f"pool_prior_{lam:g}"].append(np.abs(q_y - level - phi_q @ w))
  return {k: float(np.mean(np.concatenate(v))) for k, v in errors.items()}


def run(tables: dict, ratings: dict, seed: int, points, lams,
        item_regs=(0.1, 1.0, 10.0, 100.0), sweeps: int = 10) -> dict:
  """{"tasks", "held_out_items", "points": [{rank, reg, mae: {way: MAE}}]}
  on one seed's pool (ratings: closed_form.train_ratings)."""
  num_users = len(next(iter(tables["user"].values())))
  num_items = len(tables["item_id"])
  user, item = np.asarray(ratings["user"]), np.asarray(ratings["item"])
  data = holdout(user, item, np.asarray(ratings["rating"], np.float64),
                 num_users, seed)
  rated = np.bincount(data.item, minlength=num_items) > 0
  ridge = als.FeatureRidge(als.content_features(tables), rated)
  out = []
  for rank, reg in points:
    f = als.fit(data.user, data.item, data.rating, num_users, num_items,
                rank, reg, sweeps, seed)
    cold = ridge.predict(np.concatenate([f.item_bias[:, None], f.items], 1),
                         item_regs).cold
    bias = np.where(rated, f.item_bias, cold[:, 0])
    factors = np.where(rated[:, None], f.items, cold[:, 1:])
    out.append({"rank": rank, "reg": reg,
                "mae": score(f, bias, factors, data, reg, lams)})
  return {"tasks": len(data.tasks), "held_out_items": len(data.new_items),
          "points": out}


def markdown(report: dict) -> str:
  """Mean MAE over seeds per (rank, reg) and way, as a markdown table."""
  seeds = sorted(report["seeds"], key=int)
  first = report["seeds"][seeds[0]]["points"]
  # The JSON's keys come back sorted; show each way by its precision.
  prefix = ("pool_only", "pool_exact", "fold_in", "pool_prior")
  ways = sorted(first[0]["mae"], key=lambda w: next(
      (j, float(w[len(p) + 1:] or 0)) for j, p in enumerate(prefix)
      if w.startswith(p)))
  lines = ["| way | " + " | ".join(f"rank {p['rank']}, reg {p['reg']:g}"
                                   for p in first) + " |",
           "|---|" + "---|" * len(first)]
  for way in ways:
    cells = [np.mean([report["seeds"][s]["points"][j]["mae"][way]
                      for s in seeds]) for j in range(len(first))]
    lines.append(f"| {way} | " + " | ".join(f"{c:.4f}" for c in cells)
                 + " |")
  tasks = [report["seeds"][s]["tasks"] for s in seeds]
  return "\n".join(lines) + (
      f"\n\nMean query MAE over seeds {', '.join(seeds)} ({min(tasks)}-"
      f"{max(tasks)} pseudo item-cold tasks per seed, from the "
      "meta-training pool only).\n")
