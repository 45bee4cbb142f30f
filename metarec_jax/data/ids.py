"""Ids as the user gave them (strings) <-> the int64 codes used inside.

Catalogues name things with strings (ISBN `034545104X`, ASIN `B00005N5PF`,
UUIDs); the library indexes int64 codes. One codec per side (users, items)
maps between them:

- every id of the side is a canonical integer (`42`, not `042`, `4.0` or
  `+4`): the code is the integer. Integer ids then sort numerically and
  write back unchanged, exactly as before string ids existed.
- otherwise: codes 0..n-1 in sorted string order, so rules that depend on
  id order (seeded draws over sorted ids, tie-breaks) stay deterministic,
  and the id is written back character for character.
"""

import dataclasses
import re
from typing import Iterable, Optional

import numpy as np

_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # fits in int64


def is_canonical_int(value: str) -> bool:
  return _CANONICAL_INT.fullmatch(value) is not None


@dataclasses.dataclass(frozen=True, eq=False)
class IdCodec:
  """names: the sorted distinct ids of a string side; None: integer ids."""
  names: Optional[np.ndarray] = None

  @classmethod
  def from_strings(cls, values: Iterable[str]) -> "IdCodec":
    unique = sorted(set(values))
    if all(is_canonical_int(v) for v in unique):
      return cls(None)
    return cls(np.array(unique, dtype=str))

  @property
  def integer(self) -> bool:
    return self.names is None

  def encode(self, values) -> np.ndarray:
    """Id strings (or ints, for integer ids) -> int64 codes.

    Raises KeyError naming up to 10 ids the codec does not know.
    """
    if self.integer:
      try:
        return np.array([int(v) for v in values], np.int64)
      except ValueError as e:
        raise KeyError(f"not an integer id: {e}") from None
    values = np.asarray([str(v) for v in values], dtype=str)
    pos = np.minimum(np.searchsorted(self.names, values),
                     max(len(self.names) - 1, 0))
    bad = (self.names[pos] != values) if len(values) else np.zeros(0, bool)
    if bad.any():
      raise KeyError(f"unknown ids: {values[bad][:10].tolist()}")
    return pos.astype(np.int64)

  def decode(self, codes) -> list:
    """int64 codes -> the ids as given: int for integer ids, else str."""
    codes = np.asarray(codes, np.int64).reshape(-1)
    if self.integer:
      return [int(c) for c in codes]
    return self.names[codes].tolist()

  def to_json(self) -> Optional[list]:
    return None if self.integer else self.names.tolist()
