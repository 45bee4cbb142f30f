"""core/compile_log.py counts what JAX compiles, by function and shape."""

import jax
import jax.numpy as jnp

from metarec_jax.core import compile_log


def test_one_compile_per_distinct_shape_and_none_after_close():
  def scaled_sum(x):
    return jnp.sum(jnp.sin(x) * 3.0)

  f = jax.jit(scaled_sum)
  with compile_log.CompileLog() as log:
    f(jnp.ones((3, 7)))
    f(jnp.ones((3, 7)))   # Same shape: the cached executable, no compile.
    f(jnp.ones((4, 7)))   # A new shape: a second compile.
  f(jnp.ones((5, 7)))     # After the log closed: not counted.
  entry = log.summary()["by_function"]["scaled_sum"]
  assert entry["compiles"] == 2
  assert entry["compile_s"] > 0 and entry["trace_s"] > 0
  assert log.summary()["compiles"] >= 2
