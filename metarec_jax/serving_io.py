"""A new user's ratings from a file: CSV or JSON, checked line by line.

Accepted:
  CSV with header `item_id,rating` (one user) or `user_id,item_id,rating`
  (several users, batch mode); a header with no rows is a user with no
  ratings, who gets the meta-learned prior.
  JSON: `[{"item_id": 1, "rating": 4}, ...]`, `{"ratings": [...]}`, or
  `{"users": {"alice": [...], ...}}` (batch mode).
Errors are `DataError`s naming the file, the line and what to do.
"""

import csv
import io
import json
import math

from metarec_jax.data.sources import DataError

Ratings = list  # [(original item id, rating)]


def _item(path, line, value):
  try:
    if isinstance(value, float) and not value.is_integer():
      raise ValueError
    return int(value)
  except (TypeError, ValueError):
    raise DataError(f"{path}:{line}: item_id {value!r} is not an integer; "
                    "use the item ids of the training data.") from None


def _rating(path, line, value, lo, hi):
  try:
    r = float(value)
  except (TypeError, ValueError):
    raise DataError(f"{path}:{line}: rating {value!r} is not a number; fix "
                    "or delete this line.") from None
  if not math.isfinite(r) or not lo <= r <= hi:
    raise DataError(f"{path}:{line}: rating {value!r} is outside the "
                    f"model's range {lo:g}..{hi:g}; fix or delete this line.")
  return r


def _add(users, path, line, user, item, rating, first_line):
  key = (user, item)
  if key in first_line:
    raise DataError(f"{path}:{line}: item {item} is rated again (first at "
                    f"line {first_line[key]}); keep one rating per item.")
  first_line[key] = line
  users.setdefault(user, []).append((item, rating))


def _parse_csv(path, text, lo, hi):
  reader = csv.reader(io.StringIO(text))
  header = [h.strip() for h in next(reader)]
  batch = "user_id" in header
  want = ["user_id", "item_id", "rating"] if batch else ["item_id", "rating"]
  if header != want:
    raise DataError(f"{path}:1: header is {','.join(header)!r}; expected "
                    f"{','.join(want)!r} (or user_id,item_id,rating for "
                    "several users).")
  truncated = not text.endswith(("\n", "\r"))
  last = len(text.splitlines())
  users, first_line = {}, {}
  for row in reader:
    line = reader.line_num
    if not any(v.strip() for v in row):
      continue
    if len(row) != len(want):
      hint = (" The file ends without a newline: the last line looks "
              "truncated; complete or delete it." if truncated and
              line == last else " Fix or delete this line.")
      raise DataError(f"{path}:{line}: expected {len(want)} columns "
                      f"({','.join(want)}), found {len(row)}.{hint}")
    row = [v.strip() for v in row]
    user = row[0] if batch else ""
    _add(users, path, line, user, _item(path, line, row[-2]),
         _rating(path, line, row[-1], lo, hi), first_line)
  return batch, users


def _parse_json(path, text, lo, hi):
  try:
    obj = json.loads(text)
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); expected a "
                    'list of {"item_id": ..., "rating": ...}.') from None
  batch = isinstance(obj, dict) and "users" in obj
  if batch:
    groups = obj["users"]
  else:
    groups = {"": obj.get("ratings") if isinstance(obj, dict) else obj}
  users, first_line = {}, {}
  if not isinstance(groups, dict):
    raise DataError(f'{path}:1: "users" must map a user key to a list of '
                    "ratings.")
  for user, entries in groups.items():
    if not isinstance(entries, list):
      raise DataError(f'{path}:1: expected a list of {{"item_id", "rating"}}'
                      f" objects{' for user ' + repr(user) if batch else ''}.")
    users.setdefault(user, [])
    for n, e in enumerate(entries):
      where = f"entry {n}" + (f" of user {user!r}" if batch else "")
      if not isinstance(e, dict) or set(e) != {"item_id", "rating"}:
        raise DataError(f'{path}:1: {where} must be {{"item_id": ..., '
                        f'"rating": ...}}, got {json.dumps(e)[:80]}.')
      _add(users, path, f"1 ({where})", user, _item(path, 1, e["item_id"]),
           _rating(path, 1, e["rating"], lo, hi), first_line)
  return batch, users


def read(path: str, rating_range) -> tuple[bool, dict]:
  """Returns (batch mode, {user key: [(item id, rating)]})."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise DataError(f"{path}: cannot read ({e.strerror}); check --ratings."
                    ) from None
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise DataError(f"{path}:{line}: invalid UTF-8 at byte offset {e.start}; "
                    "re-save the file as UTF-8.") from None
  if not text.strip():
    raise DataError(f"{path}:1: the file is empty; write a header "
                    "`item_id,rating` (no rows: the prior) or a JSON list.")
  lo, hi = rating_range
  if text.lstrip()[:1] in "[{":
    return _parse_json(path, text, lo, hi)
  return _parse_csv(path, text, lo, hi)
