"""Starting a run from another run's selected parameters (config.init_from).

The source is any finished run folder (a scripts/main.py workdir or a
table's runs/<row>/seed<s>): its params/ and results.json. A fresh init of
the target run is made first; then each of its leaves is taken from the
source where the two mean the same thing:

  - a leaf with the same path and shape is copied (decision layers, the
    text projection, TaNP's encoders, ridge priors, ...);
  - a categorical field's embedding table (`<side>_<field>/embedding`) is
    copied row by row where the field's VALUE is the same in both datasets
    (the genre "Comedy", the gender "F"), whatever its index; rows of values
    the source never saw stay fresh;
  - the item-id table is copied only when both runs have the same
    catalogue (the same item ids in the same order): across datasets items
    are matched through their text embedding, never through ids;
  - anything else (a shape that differs, a leaf the source lacks) stays
    freshly initialised.

transfer() returns the parameters and a report of what happened to every
leaf; the engine logs it and writes it to <run>/init_from.json.
"""

import os

from absl import logging
from flax import traverse_util
import ml_collections
import numpy as np

from metarec_jax.core import io
from metarec_jax.data import pipeline
from metarec_jax.train import checkpoints

SEP = "/"
ITEM_ID = "item_id"


class Source:
  """A finished run: its parameters and what its indices mean."""

  def __init__(self, run_dir: str, params, field_values: dict, item_ids):
    self.run_dir, self.params = run_dir, params
    self.field_values, self.item_ids = field_values, item_ids

  @classmethod
  def load(cls, run_dir: str) -> "Source":
    path = os.path.join(run_dir, "results.json")
    if not os.path.isfile(path):
      raise FileNotFoundError(
          f"--config.init_from={run_dir}: no results.json there; it must be "
          "a finished run (a scripts/main.py workdir or a table's "
          "runs/<row>/seed<s>)")
    config = ml_collections.ConfigDict(io.read_json(path)["config"])
    config.data.text_features = False  # Only the vocabularies are needed.
    prep = pipeline.prepare(config.data, config.seed)
    return cls(run_dir, checkpoints.restore_params(run_dir, None),
               prep.field_values, prep.items.labels(np.arange(len(prep.items))))


def _field(path: str):
  """(side, field) of a field-embedding table's path, else None."""
  parts = path.split(SEP)
  if len(parts) < 2 or parts[-1] != "embedding":
    return None
  side, _, field = parts[-2].partition("_")
  return (side, field) if side in ("user", "item") and field else None


def _rows_by_value(fresh, source, target_names, source_names):
  """fresh with the rows of values both vocabularies share copied from
  source (row 0, the padding row, too); and how many values matched."""
  out = np.array(fresh, copy=True)
  index = {name: k + 1 for k, name in enumerate(source_names)}
  out[0] = source[0]
  matched = 0
  for k, name in enumerate(target_names, start=1):
    if name in index and index[name] < len(source):
      out[k] = source[index[name]]
      matched += 1
  return out, matched


def transfer(fresh, source: Source, field_values: dict, item_ids) -> tuple:
  """(params, report): fresh with every leaf the source can give it.

  report: {"source", "transferred": [path], "rows": {path: "m of n
  values"}, "fresh": {path: reason}}."""
  flat = traverse_util.flatten_dict(fresh, sep=SEP)
  src = traverse_util.flatten_dict(source.params, sep=SEP)
  report = {"source": source.run_dir, "transferred": [], "rows": {},
            "fresh": {}}
  out = {}
  for path, leaf in flat.items():
    out[path] = leaf
    if path not in src:
      report["fresh"][path] = "no such leaf in the source"
      continue
    s = np.asarray(src[path])
    field = _field(path)
    if path.split(SEP)[-1] == ITEM_ID and list(item_ids) != list(
        source.item_ids):
      report["fresh"][path] = ("another catalogue: items are never matched "
                               "by id across datasets")
    elif field is not None and s.shape[1:] == np.shape(leaf)[1:]:
      side, name = field
      target_names = field_values.get(side, {}).get(name, ())
      source_names = source.field_values.get(side, {}).get(name, ())
      out[path], n = _rows_by_value(leaf, s, target_names, source_names)
      if n == len(target_names) and s.shape == np.shape(leaf) and tuple(
          target_names) == tuple(source_names):
        report["transferred"].append(path)
      elif n:
        report["rows"][path] = f"{n} of {len(target_names)} values"
      else:
        out[path] = leaf
        report["fresh"][path] = "no value in common"
    elif s.shape == np.shape(leaf):
      out[path] = s.astype(np.asarray(leaf).dtype)
      report["transferred"].append(path)
    else:
      report["fresh"][path] = (f"shape {s.shape} in the source, "
                               f"{np.shape(leaf)} here")
  return traverse_util.unflatten_dict(out, sep=SEP), report


def log_report(report: dict, run_dir: str) -> None:
  """Prints what was transferred and writes <run>/init_from.json."""
  logging.info("init_from %s: transferred %d leaves: %s", report["source"],
               len(report["transferred"]), ", ".join(report["transferred"]))
  for path, what in report["rows"].items():
    logging.info("init_from: %s rows matched by value: %s", path, what)
  for path, why in report["fresh"].items():
    logging.info("init_from: %s freshly initialised (%s)", path, why)
  os.makedirs(run_dir, exist_ok=True)
  io.write_json(os.path.join(run_dir, "init_from.json"), report)


def initial_params(fresh, config, prep, run_dir: str, cache: dict,
                   source: Source | None = None):
  """fresh, or (config.init_from set) fresh with the source's leaves; the
  source is loaded once per path (cache). The path may say "{seed}": a
  table's seed s then starts from the source table's seed s. Without
  init_from, `source` (a Source in memory, e.g. a pretrainer's fit) is
  the start, if given."""
  # "{seed}" in the path names each seed's own source run (tables).
  path = (config.get("init_from") or "").format(seed=config.seed)
  if path and path not in cache:
    cache[path] = Source.load(path)
  source = cache[path] if path else source
  if source is None:
    return fresh
  params, report = transfer(fresh, source, prep.field_values,
                            prep.items.labels(np.arange(len(prep.items))))
  log_report(report, run_dir)
  return params
