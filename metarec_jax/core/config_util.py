"""Derived configs: a copy with overrides merged in, the original untouched."""

import ml_collections


def with_overrides(config, overrides, **fields) -> ml_collections.ConfigDict:
  """A copy of config with `overrides` (nested dicts merge into nested
  fields) and then `fields` set."""
  c = ml_collections.ConfigDict(config.to_dict())

  def merge(target, values):
    for key, value in values.items():
      if isinstance(value, (dict, ml_collections.ConfigDict)):
        merge(target[key], value)
      else:
        target[key] = value

  merge(c, overrides)
  merge(c, fields)
  return c
