"""A new user's ratings from a file: CSV or JSON, checked line by line.

Accepted:
  CSV with header `item_id,rating` (one user) or `user_id,item_id,rating`
  (several users, batch mode); a header with no rows is a user with no
  ratings, who gets the meta-learned prior.
  JSON: `[{"item_id": 1, "rating": 4}, ...]`, `{"ratings": [...]}`, or
  `{"users": {"alice": [...], ...}}` (batch mode).
Errors are `DataError`s naming the file, the line and what to do.

For a run on item tasks (data/item_world.py) the roles swap: the file holds
one item's ratings, `user_id,rating` (or `item_id,user_id,rating`, JSON
`{"items": ...}` for several items), and every message says so.
"""

import csv
import dataclasses
import io
import json
import math

from metarec_jax.core.errors import DataError
from metarec_jax.data import csv_source

Ratings = list  # [(rated id as given (str), rating)]


@dataclasses.dataclass(frozen=True)
class Roles:
  """Who rates (task) and who is rated, as the file names them."""
  task: str = "user"
  rated: str = "item"


USER_TASKS, ITEM_TASKS = Roles(), Roles("item", "user")


def roles_for(task_axis: str) -> Roles:
  return ITEM_TASKS if task_axis == "item" else USER_TASKS


def _item(path, line, value, roles: Roles = USER_TASKS) -> str:
  """A rated id as the training data writes it: a non-empty string (a JSON
  integer is its decimal string)."""
  if isinstance(value, bool) or not isinstance(value, (str, int)):
    raise DataError(f"{path}:{line}: {roles.rated}_id {value!r} is not an "
                    f"id; use the {roles.rated} ids of the training data (a "
                    "string or an integer).")
  value = str(value).strip()
  if not value:
    raise DataError(f"{path}:{line}: empty {roles.rated}_id; every row needs "
                    "one.")
  return value


def _rating(path, line, value, lo, hi):
  try:
    r = float(value)
  except (TypeError, ValueError):
    raise DataError(f"{path}:{line}: rating {value!r} is not a number; fix "
                    "or delete this line.") from None
  if not math.isfinite(r):
    raise DataError(f"{path}:{line}: rating {value!r} is not a finite "
                    "number; fix or delete this line.")
  if not lo <= r <= hi:
    raise DataError(f"{path}:{line}: rating {value!r} is outside the "
                    f"model's range {lo:g}..{hi:g}; fix or delete this line.")
  return r


def _add(users, path, line, user, item, rating, first_line,
         roles: Roles = USER_TASKS):
  """first_line also collects `unknown` [(line, item)] when given `known`."""
  known = first_line.get("known")
  if known is not None and item not in known:
    first_line["unknown"].append((line, item))
  key = (user, item)
  if key in first_line:
    raise DataError(f"{path}:{line}: {roles.rated} {item} is rated again "
                    f"(first at line {first_line[key]}); keep one rating per "
                    f"{roles.rated}.")
  first_line[key] = line
  users.setdefault(user, []).append((item, rating))


def _parse_csv(path, text, lo, hi, first_line, roles: Roles = USER_TASKS):
  reader = csv.reader(io.StringIO(text))
  header = [h.strip() for h in next(reader)]
  task, rated = f"{roles.task}_id", f"{roles.rated}_id"
  batch = len(header) == 3  # task_id,rated_id,rating: several tasks.
  want = [task, rated, "rating"] if batch else [rated, "rating"]
  if header != want:
    raise DataError(f"{path}:1: header is {','.join(header)!r}; expected "
                    f"{','.join(want)!r} (or {task},{rated},rating for "
                    f"several {roles.task}s).")
  truncated = not text.endswith(("\n", "\r"))
  last = len(text.splitlines())
  users = {}
  for row in reader:
    line = reader.line_num
    if not any(v.strip() for v in row):
      continue
    csv_source.check_width(path, line, row, want, truncated and line == last)
    row = [v.strip() for v in row]
    user = row[0] if batch else ""
    _add(users, path, line, user, _item(path, line, row[-2], roles),
         _rating(path, line, row[-1], lo, hi), first_line, roles)
  return batch, users


def _parse_json(path, text, lo, hi, first_line, roles: Roles = USER_TASKS):
  rated, many = f"{roles.rated}_id", f"{roles.task}s"
  try:
    obj = json.loads(text)
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); expected a "
                    f'list of {{"{rated}": ..., "rating": ...}}.') from None
  batch = isinstance(obj, dict) and many in obj
  if batch:
    groups = obj[many]
  else:
    groups = {"": obj.get("ratings") if isinstance(obj, dict) else obj}
  users = {}
  if not isinstance(groups, dict):
    raise DataError(f'{path}:1: "{many}" must map a {roles.task} key to a '
                    "list of ratings.")
  for user, entries in groups.items():
    if not isinstance(entries, list):
      raise DataError(f'{path}:1: expected a list of {{"{rated}", "rating"}}'
                      f" objects{f' for {roles.task} ' + repr(user) if batch else ''}.")
    users.setdefault(user, [])
    for n, e in enumerate(entries):
      where = f"entry {n}" + (f" of {roles.task} {user!r}" if batch else "")
      if not isinstance(e, dict) or set(e) != {rated, "rating"}:
        raise DataError(f'{path}:1: {where} must be {{"{rated}": ..., '
                        f'"rating": ...}}, got {json.dumps(e)[:80]}.')
      _add(users, path, f"1 ({where})", user, _item(path, 1, e[rated], roles),
           _rating(path, 1, e["rating"], lo, hi), first_line, roles)
  return batch, users


def read(path: str, rating_range, known_items=None,
         roles: Roles = USER_TASKS) -> tuple[bool, dict]:
  """Returns (batch mode, {user key: [(item id, rating)]}); roles: the
  names the file uses (ITEM_TASKS for a run on item tasks).

  With known_items (original ids), ids outside it are one error listing
  each with its line.
  """
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
                    f"`{roles.rated}_id,rating` (no rows: the prior) or a "
                    "JSON list.")
  lo, hi = rating_range
  state = {"unknown": []}
  if known_items is not None:
    state["known"] = {str(i) for i in known_items}
  parse = _parse_json if text.lstrip()[:1] in "[{" else _parse_csv
  batch, users = parse(path, text, lo, hi, state, roles)
  unknown = state["unknown"]
  if unknown:
    shown = ", ".join(f"{item} (line {line})" for line, item in unknown[:20])
    more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
    raise DataError(f"{path}:{unknown[0][0]}: {len(unknown)} {roles.rated} "
                    f"id(s) unknown to the model: {shown}{more}; remove them "
                    f"(the model knows the {roles.rated}s of its training "
                    "data).")
  return batch, users
