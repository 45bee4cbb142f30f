"""JAX's persistent compilation cache, switched on by every script.

Compiling one meta-step shape takes 4-6 s on a 2-core CPU (XLA's codegen, not
tracing), and a run compiles one per support-size bucket plus prediction
functions. The cache stores each compiled executable on disk keyed by the
program, the jax/jaxlib version and the device, so a rerun, a resumed run,
the next seed or the next table row with the same shapes loads it in a
fraction of a second. Results are unaffected: the same executable runs.

Location: $METAREC_COMPILE_CACHE if set ("off" disables it), else
$METAREC_CACHE_DIR/xla (default ~/.cache/metarec_jax/xla).
"""

import os

import jax

from metarec_jax.core import assets

ENV = "METAREC_COMPILE_CACHE"


def enable(path: str | None = None) -> str | None:
  """Turns the cache on; returns its folder, or None when disabled."""
  path = path or os.environ.get(ENV) or str(assets.cache_dir() / "xla")
  if path == "off":
    return None
  os.makedirs(path, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", path)
  # Cache every compile: small functions (prediction, optimizer steps) add
  # up to seconds per run too.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
