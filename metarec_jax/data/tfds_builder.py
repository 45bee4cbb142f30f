"""Prepared TaskSets stored as a TFDS dataset of array_record files, no TF.

Why TFDS: the stored tasks are self-describing (features.json,
dataset_info.json), random-access, and readable by any `tfds.data_source`
consumer (e.g. grain) without this module:

  tfds.data_source(f"metarec_tasks/{fingerprint}", data_dir=data_dir)

(there, splits with 0 tasks are simply absent; see "Empty splits").

TensorFlow: with tfds 4.9.10, `GeneratorBasedBuilder.download_and_prepare`
with `file_format="array_record"` serialises through tfds's pure-Python
example serializer and never imports tensorflow (checked with a decoy
`tensorflow` package on sys.path, see the tests). `as_dataset` would need TF,
so reads go through `as_data_source`. No hand-written layout is needed.

Layout: `<data_dir>/metarec_tasks/<fingerprint>/1.0.0/`, one builder config
per fingerprint, so two data configs never share files and an existing one
is reused, not rewritten.

Atomicity: TFDS writes into an `incomplete.*` sibling directory and renames it
on success, so the version directory exists only once complete; `exists`
checks just that. A killed write leaves an `incomplete.*` directory behind,
never a half-written dataset.

Empty splits: TFDS refuses to finalise a split with no examples, so splits
with 0 tasks get no files; metadata.json records every split's name, order
and query shape, and `read_task_sets` rebuilds the empty ones.
"""

import contextlib
import io
import logging
import os
import re
import tempfile

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils

from metarec_jax.data.tasks import TaskSet

NAME = "metarec_tasks"
_VERSION = "1.0.0"
# '/', ':' and '.' carry meaning in TFDS names ("name/config:version").
_FINGERPRINT_RE = re.compile(r"[A-Za-z0-9_\-]+")


def _check_fingerprint(fingerprint: str) -> None:
  if not _FINGERPRINT_RE.fullmatch(fingerprint):
    raise ValueError(f"fingerprint must match {_FINGERPRINT_RE.pattern}, "
                     f"got {fingerprint!r}")


def _variant_dir(data_dir: str, fingerprint: str) -> str:
  return os.path.join(data_dir, NAME, fingerprint, _VERSION)


def _query_size(task_sets: dict) -> int:
  """The Q shared by all non-empty splits (the feature shape is fixed)."""
  sizes = {name: ts.query_items.shape[1]
           for name, ts in task_sets.items() if len(ts)}
  if len(set(sizes.values())) > 1:
    raise ValueError(f"splits disagree on the query size: {sizes}")
  return next(iter(sizes.values()), 0)


def _features(query_size: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "user": tfds.features.Scalar(np.int32),
      "support_items": tfds.features.Tensor(shape=(None,), dtype=np.int32),
      "support_ratings": tfds.features.Tensor(shape=(None,), dtype=np.float32),
      "query_items": tfds.features.Tensor(shape=(query_size,), dtype=np.int32),
      "query_ratings": tfds.features.Tensor(
          shape=(query_size,), dtype=np.float32),
  })


class MetarecTasks(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Writes in-memory TaskSets; one example per task, in TaskSet order.

  Not registered: it is only meaningful with task_sets in hand, and reads
  go through the files (features.json), not this class.
  """
  VERSION = tfds.core.Version(_VERSION)
  # Nothing lives next to this code (no checksums file, no metadata dir).
  # Saying so also skips tfds's package-path probe, which imports
  # `importlib_resources` (an etils[epath] extra not pulled in here).
  code_path = None

  def __init__(self, *, task_sets: dict, fingerprint: str, **kwargs):
    self._task_sets = task_sets
    self._query_size = _query_size(task_sets)
    super().__init__(config=tfds.core.BuilderConfig(name=fingerprint),
                     file_format="array_record", **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="Meta-learning recommendation tasks (metarec_jax).",
        features=_features(self._query_size),
        # Keeps examples in generation order, so index i is task i.
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(
            split_order=list(self._task_sets),
            query_shapes={name: list(ts.query_items.shape)
                          for name, ts in self._task_sets.items()}))

  def _split_generators(self, dl_manager):
    del dl_manager  # Tasks come from memory; nothing is downloaded.
    return {name: self._generate_examples(ts)
            for name, ts in self._task_sets.items() if len(ts)}

  def _generate_examples(self, ts: TaskSet):
    for i in range(len(ts)):
      yield i, {
          "user": np.int32(ts.users[i]),
          "support_items": np.asarray(ts.support_items[i], np.int32),
          "support_ratings": np.asarray(ts.support_ratings[i], np.float32),
          "query_items": np.asarray(ts.query_items[i], np.int32),
          "query_ratings": np.asarray(ts.query_ratings[i], np.float32),
      }


class _DropCustomConfigWarning(logging.Filter):
  """A per-fingerprint config is the design, not something to warn about."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Using custom data configuration")


@contextlib.contextmanager
def _quiet_tfds():
  """Hides TFDS's progress bars and its "Downloading and preparing" banners.

  They describe a download that does not happen and flood logs with one bar
  per split; a single log line from `write_task_sets` replaces them.
  """
  bars = getattr(tqdm_utils, "_active", True)
  absl_logger = logging.getLogger("absl")
  log_filter = _DropCustomConfigWarning()
  tfds.display_progress_bar(False)
  absl_logger.addFilter(log_filter)
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      yield
  finally:
    absl_logger.removeFilter(log_filter)
    tfds.display_progress_bar(bars)


def exists(data_dir: str, fingerprint: str) -> bool:
  """Whether a finished dataset for this fingerprint is in data_dir."""
  _check_fingerprint(fingerprint)
  variant = _variant_dir(data_dir, fingerprint)
  return (os.path.isfile(os.path.join(variant, "dataset_info.json"))
          and os.path.isfile(os.path.join(variant, "features.json")))


def write_task_sets(task_sets: dict, data_dir: str, fingerprint: str) -> None:
  """Materialises task_sets (split name -> TaskSet) unless already there.

  Args:
    task_sets: split name -> TaskSet; splits may have 0 tasks.
    data_dir: root directory shared by all fingerprints.
    fingerprint: hash of the data config; same fingerprint = same data.
  """
  _check_fingerprint(fingerprint)
  if exists(data_dir, fingerprint):
    logging.info("Reusing tasks for fingerprint %s in %s", fingerprint,
                 _variant_dir(data_dir, fingerprint))
    return
  for name, ts in task_sets.items():
    shape = ts.query_items.shape
    if len(ts) and (len(shape) != 2 or shape[0] != len(ts)):
      raise ValueError(f"split {name!r}: query_items must be [N, Q], got "
                       f"{shape} for {len(ts)} tasks")
  with _quiet_tfds():
    builder = MetarecTasks(task_sets=task_sets, fingerprint=fingerprint,
                           data_dir=data_dir)
    # A throwaway download dir, so data_dir holds only datasets.
    with tempfile.TemporaryDirectory() as download_dir:
      try:
        builder.download_and_prepare(
            download_dir=download_dir,
            download_config=tfds.download.DownloadConfig(
                try_download_gcs=False))
      except OSError:
        # A concurrent writer renamed its finished directory first.
        if not exists(data_dir, fingerprint):
          raise
  logging.info("Wrote %s tasks for fingerprint %s to %s",
               {name: len(ts) for name, ts in task_sets.items()}, fingerprint,
               _variant_dir(data_dir, fingerprint))


def _empty_task_set(query_shape) -> TaskSet:
  return TaskSet(
      users=np.zeros((0,), np.int32), support_items=[], support_ratings=[],
      query_items=np.zeros(query_shape, np.int32),
      query_ratings=np.zeros(query_shape, np.float32))


def _to_task_set(examples: list) -> TaskSet:
  return TaskSet(
      users=np.array([e["user"] for e in examples], np.int32),
      support_items=[np.asarray(e["support_items"], np.int32)
                     for e in examples],
      support_ratings=[np.asarray(e["support_ratings"], np.float32)
                       for e in examples],
      query_items=np.stack([e["query_items"] for e in examples]).astype(
          np.int32, copy=False),
      query_ratings=np.stack([e["query_ratings"] for e in examples]).astype(
          np.float32, copy=False))


def read_task_sets(data_dir: str, fingerprint: str) -> dict:
  """Reads back what write_task_sets wrote, splits in their written order.

  Returns:
    split name -> TaskSet, equal to the written ones (values and dtypes).
  """
  _check_fingerprint(fingerprint)
  if not exists(data_dir, fingerprint):
    raise FileNotFoundError(
        f"no finished tasks for fingerprint {fingerprint} in {data_dir}")
  # From the files alone (features.json), independent of MetarecTasks.
  builder = tfds.builder_from_directory(_variant_dir(data_dir, fingerprint))
  sources = builder.as_data_source()
  metadata = builder.info.metadata
  task_sets = {}
  for name in metadata["split_order"]:
    if name not in sources:
      task_sets[name] = _empty_task_set(metadata["query_shapes"][name])
      continue
    source = sources[name]
    # One batched read of the whole split; tasks are small.
    task_sets[name] = _to_task_set(source.__getitems__(range(len(source))))
  return task_sets
