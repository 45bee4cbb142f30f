"""Meta-step speed on real task batches, against the measured matmul peak.

Each case runs in a fresh process (so peak RSS is the case's own), compiles
the meta-step once per support-size bucket ahead of time, and times steps
over the epoch's real, bucketed batches. FLOPs come from XLA's cost analysis
of the compiled computations, so achieved GFLOP/s counts only the work the
program really does (padding included, as it is computed). XLA's cost
analysis counts a while loop's body once, not once per trip, so the figure
is exact only where the inner loop is unrolled (MeLU's Gram-matrix loop is)
and a lower bound elsewhere.

Compile time is measured twice: cold (an empty persistent compilation cache
made for the case) and cached (the same shapes again after clearing JAX's
in-memory caches, loaded from that disk cache, as a rerun of any script
would; see compile_cache.py).
"""

import multiprocessing
import os
import platform
import resource
import tempfile
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.core import compile_cache, config_util
from metarec_jax.data import batching, pipeline, scenarios
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, registry
from metarec_jax.train import controls, engine, step


def matmul_peak_gflops(n: int = 1024, reps: int = 10) -> float:
  """Best-of-reps dense f32 matmul throughput on the default device."""
  a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
  f = jax.jit(lambda x, y: x @ y)
  f(a, a).block_until_ready()
  best = float("inf")
  for _ in range(reps):
    t0 = time.perf_counter()
    f(a, a).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2 * n ** 3 / best / 1e9


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", 0.0)) if cost else 0.0


def _setup(case, bench):
  """The case's config, data, method, and one run's stacked state."""
  config = config_util.with_overrides(bench.bases[case.dataset], {
      "inner_steps": case.inner_steps, "first_order": case.first_order,
      "batch_size": case.batch_size, "gram_inner": bench.gram_inner})
  if bench.buckets:
    config.data.buckets = tuple(bench.buckets)
  if case.dataset == "ml1m":
    config.data.path = bench.ml1m_dir or os.environ.get("METAREC_ML1M_DIR", "")
  prep = pipeline.prepare(config.data, bench.seed)
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  state = step.init_state(method, tables, 0, config.outer_lr,
                          config.weight_decay, config.clip_norm)
  return config, prep, method, tables, state


def with_run_axis(tree):
  """A leading run axis of 1: the engine's shapes for scripts/main.py."""
  return jax.tree.map(lambda x: jnp.asarray(x)[None], tree)


def _time_vmapped(case, bench, config, prep, method, tables, state):
  hp, tasks = base.hparams(config), prep.tasks["train"]
  plan = batching.plan_batches(tasks, case.batch_size, config.data.buckets,
                               scenarios.rng_for(bench.seed, "train", 0))
  step_fn = step.make_step(method, config.clip_norm,
                           batch_rows=config.batch_rows,
                           controls=controls.of([config]))
  states, run_hp = with_run_axis(state), with_run_axis(hp)
  run_tables = jax.device_put(with_run_axis(tables))
  sizes = sorted({s for s, _ in plan})

  def compile_all():
    t0 = time.perf_counter()
    out = {}
    for size in sizes:
      dummy = with_run_axis(batching.pad_tasks(tasks, np.array([], np.int64), size,
                                      case.batch_size))
      out[size] = step_fn.lower(states, run_tables, dummy, run_hp).compile()
    return out, time.perf_counter() - t0

  compiled, compile_s = compile_all()  # Cold: the case's cache is empty.
  jax.clear_caches()
  _, compile_cached_s = compile_all()  # From the persistent cache.
  flops = {size: _flops(c) for size, c in compiled.items()}
  # Batches are on the device before the clock starts, as in training,
  # where the next batch is built while the current step runs.
  batches = [(s, jax.device_put(with_run_axis(batching.pad_tasks(tasks, idx, s,
                                                        case.batch_size))))
             for s, idx in plan[:bench.steps]]
  for size in compiled:  # Warm-up: one run of each shape.
    b = next((b for s, b in batches if s == size), None)
    if b is not None:
      states, _ = compiled[size](states, run_tables, b, run_hp)
  jax.block_until_ready(states)
  times, work, real = [], 0.0, []
  for i in range(bench.steps):
    size, b = batches[i % len(batches)]
    t = time.perf_counter()
    states, m = compiled[size](states, run_tables, b, run_hp)
    jax.block_until_ready(m["loss"])
    times.append(time.perf_counter() - t)
    work += flops[size]
    real.append(len(plan[i % len(batches)][1]))
  eval_times = _time_eval(method, engine.take(states.params, 0), tables,
                          prep, hp, config, bench.eval_batches)
  return times, work, (compile_s, compile_cached_s), eval_times, plan, real


def _time_eval(method, params, tables, prep, hp, config, n: int) -> list:
  """Seconds per batch of the jitted adapted prediction on validation."""
  out = []
  evals = list(batching.iterate_batches(prep.tasks["validation"],
                                        config.eval_batch_size,
                                        config.data.buckets))
  fn = predict.jitted(method)
  for _, b in evals[:n]:
    jax.block_until_ready(fn(params, tables, b, hp))  # Compile.
    t = time.perf_counter()
    jax.block_until_ready(fn(params, tables, b, hp))
    out.append(time.perf_counter() - t)
  return out


def _time_python_loop(case, bench, config, prep, method, tables, state):
  """The same single-task loss, one task at a time from Python."""
  hp = base.hparams(config)
  tasks = prep.tasks["train"]
  plan = batching.plan_batches(tasks, case.batch_size, config.data.buckets,
                               scenarios.rng_for(bench.seed, "train", 0))
  grad_fn = jax.jit(jax.grad(lambda *a: method.meta_loss(*a)[0]))
  optimizer = step.make_optimizer(config.clip_norm)
  update = jax.jit(lambda s, g: step.apply_gradients(optimizer, s, g))
  t0 = time.perf_counter()
  for size in sorted({s for s, _ in plan}):
    one = batching.pad_tasks(tasks, np.array([], np.int64), size, 1)
    jax.block_until_ready(grad_fn(state.params, tables, one,
                                  jax.random.key(0), hp))
  compile_s = time.perf_counter() - t0
  times, real = [], []
  for i in range(bench.loop_steps + 1):
    size, idx = plan[i % len(plan)]
    singles = [batching.pad_tasks(tasks, np.array([j]), size, 1) for j in idx]
    t = time.perf_counter()
    grads = None
    for k, one in enumerate(singles):
      g = grad_fn(state.params, tables, one, jax.random.key(k), hp)
      grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
    grads = jax.tree.map(lambda x: x / len(singles), grads)
    state = update(state, grads)
    jax.block_until_ready(state.params)
    if i:  # The first pass includes the update's compile.
      times.append(time.perf_counter() - t)
      real.append(len(idx))
  return times, 0.0, (compile_s, None), [], plan, real


def run_case(name, case, bench) -> dict:
  """Runs one case in this process; returns its figures."""
  # A fresh, empty persistent cache: compile_s is a cold compile.
  compile_cache.enable(tempfile.mkdtemp(prefix="metarec_bench_xla_"))
  setup = _setup(case, bench)
  config, prep = setup[0], setup[1]
  timer = _time_python_loop if case.python_loop else _time_vmapped
  times, work, (compile_s, compile_cached_s), eval_times, plan, real = timer(
      case, bench, *setup)
  times = np.asarray(times)
  out = {
      "ms_per_step_median": 1e3 * float(np.median(times)),
      "ms_per_step_p90": 1e3 * float(np.percentile(times, 90)),
      # Real (unpadded) tasks: a batch larger than the data holds padding.
      "tasks_per_s": float(np.sum(real) / times.sum()),
      "compile_s": compile_s,
      "compile_cached_s": compile_cached_s,
      "num_shapes": len({s for s, _ in plan}),
      "eval_ms_per_batch": (1e3 * float(np.median(eval_times))
                            if eval_times else None),
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "achieved_gflops": (work / times.sum() / 1e9) if work else None,
      "padding_fraction": batching.padding_fraction(
          prep.tasks["train"], case.batch_size, config.data.buckets),
      "steps_timed": int(len(times)),
      "batch_size": case.batch_size, "inner_steps": case.inner_steps,
      "first_order": case.first_order, "dataset": case.dataset,
  }
  logging.info("%s: %.1f ms/step median", name, out["ms_per_step_median"])
  return out


def _child(name, case, bench, queue):
  try:
    queue.put(run_case(name, case, bench))
  except Exception as e:  # pylint: disable=broad-except
    queue.put({"error": f"{type(e).__name__}: {e}"})


def run_all(bench, on_case=None) -> dict:
  """Every case of the benchmark config, each in a fresh process; on_case,
  if given, gets the result so far after each case."""
  peak = matmul_peak_gflops()
  result = {"machine": {"date": time.strftime("%Y-%m-%d"),
                        "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine(),
                        "cpu_count": os.cpu_count(),
                        "backend": jax.default_backend(),
                        "devices": [str(d) for d in jax.devices()],
                        "jax": jax.__version__},
            "matmul_peak_gflops": peak, "cases": {}}
  ctx = multiprocessing.get_context("spawn")
  for name, case in bench.cases.items():
    if case.dataset == "ml1m" and not (
        bench.ml1m_dir or os.environ.get("METAREC_ML1M_DIR")):
      logging.warning("%s skipped: no ML-1M folder (METAREC_ML1M_DIR)", name)
      continue
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, case, bench, queue))
    proc.start()
    out = queue.get()
    proc.join()
    if "error" in out:
      raise RuntimeError(f"benchmark case {name} failed: {out['error']}")
    if out["achieved_gflops"]:
      out["fraction_of_peak"] = out["achieved_gflops"] / peak
    else:
      out["fraction_of_peak"] = None
    result["cases"][name] = out
    print(f"{name}: {out['ms_per_step_median']:.1f} ms/step median, "
          f"compile {out['compile_s']:.1f}s", flush=True)
    if on_case is not None:
      on_case(result)
  return result


def table(result: dict) -> str:
  cols = ("ms_per_step_median", "ms_per_step_p90", "tasks_per_s",
          "compile_s", "compile_cached_s", "eval_ms_per_batch", "peak_rss_mb",
          "achieved_gflops", "fraction_of_peak", "padding_fraction")
  short = ("ms med", "ms p90", "tasks/s", "compile s", "cached s", "eval ms",
           "RSS MB", "GFLOP/s", "of peak", "padding")
  lines = [f"matmul peak: {result['matmul_peak_gflops']:.1f} GFLOP/s on "
           f"{result['machine']['backend']} ({result['machine']['processor']},"
           f" {result['machine']['cpu_count']} cores)",
           f"{'case':34s}" + "".join(f"{s:>10s}" for s in short)]
  for name, c in result["cases"].items():
    cells = "".join(("{:10.3f}" if k in ("fraction_of_peak",
                                         "padding_fraction") else
                     "{:10.1f}").format(c[k]) if c.get(k) is not None
                    else f"{'-':>10s}" for k in cols)
    lines.append(f"{name:34s}{cells}")
  return "\n".join(lines)


def markdown(result: dict, source: str) -> str:
  """The README's Performance section body, generated from a result file."""
  m = result["machine"]
  when = f", measured {m['date']}" if "date" in m else ""
  lines = [f"Generated by `scripts/update_docs.py` from `{source}` "
           f"(do not edit by hand{when}). Machine: {m['processor']}, "
           f"{m['cpu_count']} cores, backend `{m['backend']}`, jax "
           f"{m['jax']}; dense f32 matmul peak measured in the same run: "
           f"{result['matmul_peak_gflops']:.1f} GFLOP/s.", "",
           "Compile s: cold, for all of the case's support-size shapes; "
           "cached: the same shapes loaded from the persistent compilation "
           "cache, as any rerun of a script does.", "",
           "| case | ms/step median | p90 | tasks/s | compile s (shapes) | "
           "cached s | eval ms/batch | peak RSS MB | GFLOP/s | of peak | "
           "padding |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "| ---: |"]
  fmt = lambda v, f="{:.1f}": "-" if v is None else f.format(v)
  for name, c in result["cases"].items():
    lines.append(
        f"| `{name}` | {fmt(c['ms_per_step_median'])} | "
        f"{fmt(c['ms_per_step_p90'])} | {fmt(c['tasks_per_s'])} | "
        f"{fmt(c['compile_s'])} ({c.get('num_shapes', '?')}) | "
        f"{fmt(c.get('compile_cached_s'))} | {fmt(c['eval_ms_per_batch'])} | "
        f"{fmt(c['peak_rss_mb'], '{:.0f}')} | {fmt(c['achieved_gflops'])} | "
        f"{fmt(c['fraction_of_peak'], '{:.1%}')} | "
        f"{fmt(c['padding_fraction'], '{:.1%}')} |")
  return "\n".join(lines)
