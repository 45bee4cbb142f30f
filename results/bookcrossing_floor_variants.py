"""Diagnostic (validation users only): why Book-Crossing's table rows lose
to the user-mean floor. The rows are residuals to item mean + user bias;
Book-Crossing's item means come from one or two ratings. Prints the
validation query MAE of that base with item means shrunk toward the global
mean by k pseudo-ratings, without and with the table's bias_prior = 10.

  .venv/bin/python results/bookcrossing_floor_variants.py
"""

import json

import numpy as np

from configs.tables import coldstart
from metarec_jax.data import pipeline

c = coldstart.get_config("bookcrossing")
c.data.use_tfds = False
p = pipeline.prepare(c.data, 0)
train = p.split.train_pool
index = p.items.index(train.item)
g = float(train.rating.mean())
n = np.bincount(index, minlength=len(p.items))
total = np.bincount(index, weights=train.rating, minlength=len(p.items))
t = p.tasks["validation"]
lo, hi = p.rating_range
out = {"seed": 0, "tasks": len(t), "user_mean": float(np.concatenate(
    [np.abs(s.mean() - q) for s, q in zip(t.support_ratings,
                                            t.query_ratings)]).mean())}
for k in (0, 1, 3, 10, 30):
  item_mean = np.where(n > 0, (total + k * g) / np.maximum(n + k, 1), g)
  for prior in (0, 10):
    err = [np.abs(np.clip(item_mean[qi] + (sr - item_mean[si]).sum()
                          / (len(sr) + prior), lo, hi) - qr)
           for si, sr, qi, qr in zip(t.support_items, t.support_ratings,
                                     t.query_items, t.query_ratings)]
    out[f"item_mean_shrunk{k}_user_bias_prior{prior}"] = float(
        np.concatenate(err).mean())
print(json.dumps(out, indent=1))
