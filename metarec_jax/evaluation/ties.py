"""The two tie rules of the ranking metrics (docs/protocol.md, "Ties").

Every ranking metric here is a sum over the top k positions of a value of
the item there (a gain, or 1 for a relevant item). When scores tie, which
item holds a position depends on how the tie is broken:
- expected (the protocol's primary value): tied items fill the positions
  their group spans in a uniformly random order, so each of those positions
  holds the group's mean value (McSherry and Najork, ECIR 2008). A scorer
  without ties gets its plain ranking; a constant scorer gets the exact
  expectation of a uniformly random ranking.
- pessimistic (the reported lower bound): among tied items the lowest value
  ranks first.
Both take values and scores [N, C] and return the values at the top
min(k, C) positions, [N, min(k, C)]; -inf scores rank last, NaN after them.
Sorting makes them O(C log C) per row, so a 56K-item catalogue is cheap.
"""

import numpy as np


def expected_top(values: np.ndarray, scores: np.ndarray, k: int
                 ) -> np.ndarray:
  """Expected value at each of the top k positions, ties in random order.

  After a stable sort by score, a tie group is a run of equal scores; a
  position in the run [start, end) holds the run's mean value, read off the
  cumulative sum.
  """
  values = np.asarray(values, np.float64)
  scores = np.asarray(scores, np.float64)
  n, c = scores.shape
  order = np.argsort(-scores, axis=-1, kind="stable")
  s = np.take_along_axis(scores, order, axis=-1)
  v = np.take_along_axis(values, order, axis=-1)
  pos = np.broadcast_to(np.arange(c), (n, c))
  # NaN != NaN: each NaN score is a group of its own.
  first = np.ones((n, c), bool)
  first[:, 1:] = s[:, 1:] != s[:, :-1]
  last = np.ones((n, c), bool)
  last[:, :-1] = first[:, 1:]
  start = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
  end = np.minimum.accumulate(np.where(last, pos + 1, c)[:, ::-1],
                              axis=-1)[:, ::-1]
  kk = min(k, c)
  start, end = start[:, :kk], end[:, :kk]
  cum = np.concatenate([np.zeros((n, 1)), np.cumsum(v, axis=-1)], axis=-1)
  total = (np.take_along_axis(cum, end, axis=-1)
           - np.take_along_axis(cum, start, axis=-1))
  return total / (end - start)


def pessimistic_top(values: np.ndarray, scores: np.ndarray, k: int
                    ) -> np.ndarray:
  """Values at the top k positions, ties broken lowest value first."""
  values = np.asarray(values, np.float64)
  # lexsort sorts by the last key first: score descending, then value
  # ascending.
  order = np.lexsort((values, -np.asarray(scores, np.float64)), axis=-1)
  return np.take_along_axis(values, order[:, :k], axis=-1)


RULES = {"expected": expected_top, "pessimistic": pessimistic_top}
