"""The cold-start table: every method and floor, seeds vmapped, one workdir.

reproduce(config, workdir) trains each row of config.methods on every seed
with the one engine (one vmapped computation per row when config.vmap_seeds),
selects each seed's parameters on its validation users, evaluates the four
test scenarios once, and writes per run W/runs/<row>/seed<s>/ (params/,
results.json, predictions_*.csv, split.json, tensorboard/): every run is
servable with scripts/recommend.py. Then W/table.json, W/table.md and
W/timing.json. With config.ensemble_size > 1, config.ensemble_method is
trained with that many init seeds per data seed (same split) and the
`ensemble` row serves and scores their mean. With config.curve_ks, the three
rows with the best mean validation MAE and the floors are evaluated against
support size K (evaluation/curve.py).

A table killed part-way resumes: rows whose runs all hold results.json are
read back, the row in training resumes from its group checkpoint.
"""

import os
import time

from absl import logging
import jax

from metarec_jax.core import config_util, io
from metarec_jax.data import pipeline
from metarec_jax.evaluation import curve, evaluate
from metarec_jax.experiments import plots, tables
from metarec_jax.meta import base, ensemble, registry
from metarec_jax.train import checkpoints, engine, experiment

ENSEMBLE = registry.ENSEMBLE


def method_config(config, name: str):
  """config with method = name and config.tuned[name] merged in (nested)."""
  return config_util.with_overrides(config, config.get("tuned", {}).get(
      name, {}), method=name)


def seed_config(c, seed: int):
  return config_util.with_overrides(c, {}, seed=seed)


def run_dir(workdir: str, row: str, seed: int) -> str:
  return os.path.join(workdir, "runs", row, f"seed{seed}")


def row_runs(c, preps: dict, pairs, workdir: str) -> list:
  """The engine runs of a row's (seed, member) pairs: member 0 of seed s is
  the row's own run; members e > 0 live under the ensemble's run."""
  def run(s, e):
    cs = seed_config(c, s)
    folder = (run_dir(workdir, c.method, s) if e == 0 else os.path.join(
        run_dir(workdir, ENSEMBLE, s), "members", str(e)))
    return engine.Run(cs, preps[s], s + experiment.ENSEMBLE_SEED_STRIDE * e,
                      folder, registry.build(cs, preps[s]))
  return [run(s, e) for s, e in pairs]


def _train_row(c, preps: dict, seeds, members: int, workdir: str):
  """Trains the row's (seed, member) runs; {(seed, member): (params,
  record)} and the engine timings."""
  pairs = [(s, e) for s in seeds for e in range(members)]
  groups = [pairs] if c.vmap_seeds else [[p] for p in pairs]
  out, timing = {}, []
  for group in groups:
    runs = row_runs(c, preps, group, workdir)
    group_dir = (os.path.join(workdir, "runs", c.method) if c.vmap_seeds
                 else runs[0].workdir)
    trained = engine.train(runs[0].init_method, runs, c, group_dir,
                           log_prefix=f"{c.method} ")
    timing.append(trained.timing)
    for i, pair in enumerate(group):
      out[pair] = (trained.best_params[i], trained.records[i])
  return out, timing


def _evaluate(folder: str, method, params, c, prep, selection) -> dict:
  """One run's test scenarios, files and results; returns the scenarios."""
  os.makedirs(folder, exist_ok=True)
  res = evaluate.evaluate_scenarios(folder, prep, method, params,
                                    base.hparams(c), c)
  evaluate.write_run(folder, prep, res, c, selection)
  return io.round_floats(res)


def _ensemble_row(c, trained: dict, preps, seeds, members, workdir) -> list:
  """The `ensemble` row: each seed's members stacked, saved and scored."""
  out = []
  for s in seeds:
    cs = seed_config(c, s)
    cs.method, cs.ensemble_method, cs.ensemble_size = (ENSEMBLE, c.method,
                                                       members)
    folder = run_dir(workdir, ENSEMBLE, s)
    params = ensemble.stack([trained[(s, e)][0] for e in range(members)])
    checkpoints.save_params(folder, params)
    out.append(_evaluate(folder, registry.build(cs, preps[s]), params, cs,
                         preps[s], {"members": [trained[(s, e)][1] for e in
                                                range(members)]}))
  return out


def _finished(workdir: str, name: str, seeds) -> list | None:
  """The rounded per-seed results of a row whose runs all finished."""
  paths = [os.path.join(run_dir(workdir, name, s), "results.json")
           for s in seeds]
  if not all(os.path.isfile(p) for p in paths):
    return None
  return [io.read_json(p) for p in paths]


def _row_results(config, name, preps, seeds, workdir, rows, out) -> None:
  """Trains and scores one row (and the ensemble after its member row), or
  reads them back when finished; fills rows ({row: {seed: params}}) and
  out."""
  c = method_config(config, name)
  members = (config.ensemble_size if name == config.ensemble_method
             and config.ensemble_size > 1 else 1)
  done = _finished(workdir, name, seeds)
  if done and (members == 1 or _finished(workdir, ENSEMBLE, seeds)):
    out["results"][name] = [r["scenarios"] for r in done]
    out["floors"] = out["floors"] or [r["floors"] for r in done]
    out["validation"][name] = [r["selection"]["best_validation_mae"]
                               for r in done]
    if members > 1:
      out["results"][ENSEMBLE] = [r["scenarios"] for r in
                                  _finished(workdir, ENSEMBLE, seeds)]
    # The row's timing from the process that trained it, when recorded.
    out["timing"][name] = {**out["earlier_timing"].get(name, {}),
                           "read_back": True}
    return
  t0 = time.time()
  trained, timing = _train_row(c, preps, seeds, members, workdir)
  per_seed = []
  for s in seeds:
    params, record = trained[(s, 0)]
    cs = seed_config(c, s)
    per_seed.append(_evaluate(run_dir(workdir, name, s),
                              registry.build(cs, preps[s]), params, cs,
                              preps[s], record))
  out["results"][name] = [r["scenarios"] for r in per_seed]
  out["floors"] = out["floors"] or [r["floors"] for r in per_seed]
  out["validation"][name] = [round(trained[(s, 0)][1]["best_validation_mae"],
                                   6) for s in seeds]
  if members > 1:
    out["results"][ENSEMBLE] = [r["scenarios"] for r in _ensemble_row(
        c, trained, preps, seeds, members, workdir)]
  rows[name] = {s: trained[(s, 0)][0] for s in seeds}
  out["timing"][name] = {"wall_s": round(time.time() - t0, 1),
                         "train": timing}


def title(config) -> str:
  return ("Item warm-up table" if config.data.get("task_axis") == "item"
          else "Cold-start table")


def write_table(workdir: str, out: dict, config) -> dict:
  table = tables.build_table(out["results"], out["floors"])
  tables.add_selection(table, out["validation"],
                       config.get("validation_k_shots", ()))
  table["title"] = f"{title(config)}: {config.data.name}"
  io.write_json(os.path.join(workdir, "table.json"), table)
  io.write_text(os.path.join(workdir, "table.md"),
                tables.render_markdown(table))
  return table


def _curve_rows(config, table, rows: dict, preps, seeds, workdir) -> dict:
  """The three rows best on validation, with every seed's params (read back
  from the run folders for rows this process did not train)."""
  val = table["validation_mae"]
  out = {}
  for name in sorted(val, key=val.get)[:3]:
    c = method_config(config, name)
    params = dict(rows.get(name, {}))
    for s in seeds:
      if s not in params:
        params[s] = checkpoints.restore_for(
            run_dir(workdir, name, s),
            registry.build(seed_config(c, s), preps[s]), preps[s].tables)
    out[name] = (registry.build(c, preps[seeds[0]]), params,
                 {s: base.hparams(seed_config(c, s)) for s in seeds})
  return out


def reproduce(config, workdir: str) -> dict:
  """Runs (or resumes) the table; returns table.json's dict."""
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  seeds = list(config.seeds)
  timing_path = os.path.join(workdir, "timing.json")
  earlier = io.read_json(timing_path) if os.path.exists(timing_path) else {}
  preps = {s: pipeline.prepare(config.data, s) for s in seeds}
  out = {"results": {}, "floors": None, "validation": {},
         "earlier_timing": earlier,
         "timing": {"data_s": round(time.time() - t0, 1)}}
  rows = {}

  def write_timing():
    # wall_s sums every process that worked on this workdir (a resumed
    # table's time is the first process's plus the resume's).
    out["timing"].update(
        wall_s=round(earlier.get("wall_s", 0) + time.time() - t0, 1),
        processes=earlier.get("processes", 0) + 1)
    io.write_json(timing_path, out["timing"])

  for name in config.methods:
    _row_results(config, name, preps, seeds, workdir, rows, out)
    logging.info("%s done at %.1fs", name, time.time() - t0)
    # Rewritten after every row: a long run leaves a valid partial table.
    table = write_table(workdir, out, config)
    write_timing()
  if config.get("curve_ks"):
    points = curve.curve(_curve_rows(config, table, rows, preps, seeds,
                                     workdir), seeds, preps,
                         config.curve_ks, config.eval_batch_size)
    io.write_json(os.path.join(workdir, "curve.json"), points)
    plots.plot_curve(points, os.path.join(workdir, "curve.png"))
  out["timing"].update(validation_mae=table.get("validation_mae"),
                       backend=jax.default_backend(),
                       load_avg=os.getloadavg(), cpus=os.cpu_count())
  write_timing()
  return table
