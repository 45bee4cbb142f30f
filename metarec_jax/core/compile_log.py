"""Where a run's compile time goes: every jitted function JAX traces,
lowers and compiles while a CompileLog is open, counted by name.

On a CPU a meta-step runs in milliseconds and compiling one shape takes
seconds, so a first run's wall time is mostly compiling (#26). JAX reports
each phase through jax.monitoring with the function's name; this listens
to the three phases (trace to a jaxpr, lower to MLIR, XLA compile, which is
a persistent-cache read when the cache has it) and sums them per name, so
timing.json can say which functions and how many distinct shapes cost
what. The numbers are JAX's own timers; nothing is re-timed here.
"""

import collections
import threading

import jax

PHASES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "compile_s",
}


def _base_name(name: str) -> str:
  """Tracing reports "f", lowering and compiling "jit(f)": one name."""
  if name.startswith("jit(") and name.endswith(")"):
    return name[4:-1]
  return name


class CompileLog:
  """Context manager: per function name, how many compiles and seconds in
  each phase while open (all threads)."""

  def __init__(self):
    self._lock = threading.Lock()
    self._by_name = collections.defaultdict(
        lambda: {"compiles": 0, "trace_s": 0.0, "lower_s": 0.0,
                 "compile_s": 0.0})

  def _listen(self, event: str, seconds: float, **kwargs) -> None:
    phase = PHASES.get(event)
    if phase is None:
      return
    name = _base_name(str(kwargs.get("fun_name", "?")))
    with self._lock:
      entry = self._by_name[name]
      entry[phase] += seconds
      if phase == "compile_s":
        entry["compiles"] += 1

  def __enter__(self) -> "CompileLog":
    jax.monitoring.register_event_duration_secs_listener(self._listen)
    return self

  def __exit__(self, *exc) -> None:
    jax.monitoring.unregister_event_duration_listener(self._listen)

  def summary(self, top: int = 12) -> dict:
    """{"compiles", "trace_s", "lower_s", "compile_s" (totals),
    "by_function": the `top` names by total seconds, rounded}."""
    with self._lock:
      items = sorted(self._by_name.items(),
                     key=lambda kv: -(kv[1]["trace_s"] + kv[1]["lower_s"]
                                      + kv[1]["compile_s"]))
    total = {k: sum(v[k] for _, v in items)
             for k in ("compiles", "trace_s", "lower_s", "compile_s")}
    rounded = lambda d: {k: (round(v, 3) if isinstance(v, float) else v)
                         for k, v in d.items()}
    return {**rounded(total),
            "by_function": {n: rounded(v) for n, v in items[:top]}}
