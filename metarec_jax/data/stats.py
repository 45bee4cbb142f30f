"""Statistics of the meta-training ratings that floors and models share."""

import numpy as np

from metarec_jax.data.sources import Ratings


class FloorStats:
  """Global and per-item means of the meta-training ratings.

  item_mean [I] falls back to the global mean for items without
  meta-training ratings (new items); item_count [I] counts them; ratings is the sorted training ratings
  (the random floor draws from them).
  """

  def __init__(self, train: Ratings, item_index, num_items: int):
    self.global_mean = float(np.mean(train.rating, dtype=np.float64))
    idx = item_index(train.item)
    sums = np.bincount(idx, weights=train.rating, minlength=num_items)
    counts = np.bincount(idx, minlength=num_items)
    self.item_mean = np.where(counts > 0, sums / np.maximum(counts, 1),
                              self.global_mean)
    self.item_count = counts
    self.ratings = np.sort(train.rating)
