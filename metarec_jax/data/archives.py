"""A dataset given as a folder or as the zip file it was downloaded in.

A zip is extracted once into $METAREC_CACHE_DIR/archives/<sha256 prefix>/
(into a temporary folder first, then renamed: a killed extraction never
counts as done), and the folder inside it that holds the dataset's files is
returned, however deep the zip nests it (GroupLens zips hold ml-1m/...).
"""

import os
import pathlib
import shutil
import tempfile
import zipfile

from metarec_jax.core import assets
from metarec_jax.core.errors import DataError


def _find(root: pathlib.Path, markers) -> pathlib.Path | None:
  """The shallowest folder under root holding any of the marker files."""
  for folder in sorted((p for p in [root, *root.rglob("*")] if p.is_dir()),
                       key=lambda p: len(p.parts)):
    if any((folder / m).is_file() for m in markers):
      return folder
  return None


def _extract(path: str) -> pathlib.Path:
  target = assets.cache_dir() / "archives" / assets.sha256_of(
      pathlib.Path(path))[:16]
  if target.is_dir():
    return target
  target.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(dir=target.parent))
  try:
    with zipfile.ZipFile(path) as zf:
      zf.extractall(tmp)
    os.replace(tmp, target)
  except zipfile.BadZipFile:
    raise DataError(f"{path}: not a readable zip file; pass the downloaded "
                    ".zip or the folder it unpacks to.") from None
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return target


def dataset_folder(path: str, markers, what: str) -> str:
  """The folder of `what` at path (a folder or a .zip) holding a marker."""
  if not path or not os.path.exists(path):
    raise DataError(f"{what} at {path!r} does not exist; set "
                    "--config.data.path to the downloaded folder or .zip.")
  root = (_extract(path) if os.path.isfile(path) and zipfile.is_zipfile(path)
          else pathlib.Path(path))
  found = _find(root, markers)
  if found is None:
    raise DataError(f"{path}: no {what} files in it (looked for "
                    f"{', '.join(markers)}).")
  return str(found)
