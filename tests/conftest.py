"""Shared fixtures: the small real dataset, prepared once per session."""

import os
import tempfile

import pytest

# One persistent compilation cache for the session, in a fresh folder (never
# the user's): tests that build the same step on the same shapes, and the
# scripts they start as subprocesses (which inherit the variable), load it
# instead of compiling again. It changes no result: the same executable runs.
os.environ.setdefault("METAREC_COMPILE_CACHE",
                      tempfile.mkdtemp(prefix="metarec_test_xla_"))
# Tests run tiny shapes, where XLA's LLVM optimisation passes cost more than
# they save: most of the suite's time is compiling (measured: the bfloat16
# test of 4 methods 76 s -> 44 s). The variable reaches the scripts the
# tests start; a test comparing two computations runs both under it.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
from metarec_jax.core import compile_cache  # pylint: disable=g-import-not-at-top,wrong-import-position
compile_cache.enable()

ML1M_DIR = os.environ.get("METAREC_ML1M_DIR", "")


@pytest.fixture(scope="session")
def ml100k_raw():
  from metarec_jax.data import sources
  return sources.load_ml100k()


@pytest.fixture(scope="session")
def ml100k_prep():
  from configs import melu
  from metarec_jax.data import pipeline
  config = melu.get_config("ml100k,smoke")
  config.data.use_tfds = False
  return pipeline.prepare(config.data, seed=0)


needs_ml1m = pytest.mark.skipif(
    not (ML1M_DIR and os.path.isdir(ML1M_DIR)),
    reason="METAREC_ML1M_DIR is not set to a MovieLens-1M folder "
           "(e.g. ../shared/data/ml-1m-coldstart)")
