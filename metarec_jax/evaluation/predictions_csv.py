"""Reading a run's predictions_<scenario>.csv back (evaluate.py writes it).

Columns user_id,item_id,rating,prediction, one row per query rating, a
user's rows together. Ids are opaque labels: they are kept as the strings
the file holds, never parsed as numbers.
"""

import csv

import numpy as np

from metarec_jax.core.errors import DataError

COLUMNS = ["user_id", "item_id", "rating", "prediction"]


def read_predictions(path) -> tuple[np.ndarray, np.ndarray]:
  """(ratings [users, Q], predictions [users, Q]) in the file's user order."""
  users, order = {}, []
  with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    if header != COLUMNS:
      raise DataError(f"{path}:1: header {header}, expected {COLUMNS}")
    for line, row in enumerate(reader, start=2):
      try:
        user, rating, pred = row[0], float(row[2]), float(row[3])
      except (IndexError, ValueError):
        raise DataError(f"{path}:{line}: expected 4 columns "
                        f"{','.join(COLUMNS)}, got {row}") from None
      if user not in users:
        users[user] = []
        order.append(user)
      users[user].append((rating, pred))
  sizes = {len(v) for v in users.values()}
  if len(sizes) > 1:
    raise DataError(f"{path}: query sets of different sizes {sorted(sizes)};"
                    " the protocol's query size is fixed")
  if not users:
    raise DataError(f"{path}: no predictions")
  arr = np.array([users[u] for u in order], np.float64)
  return arr[..., 0], arr[..., 1]
