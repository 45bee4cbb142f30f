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
from metarec_jax.experiments import grid, plots, residual_base, tables
from metarec_jax.meta import base, ensemble, registry
from metarec_jax.train import checkpoints, engine, experiment

ENSEMBLE = registry.ENSEMBLE


ROW = "row:"


def resolve_rows(config, workdir: str):
  """config with every init_from "row:<row>" made the path of that row's
  run of the same seed in this table (W/runs/<row>/seed{seed})."""
  tuned = {r: dict(o.to_dict() if hasattr(o, "to_dict") else o)
           for r, o in (config.get("tuned") or {}).items()}
  for over in tuned.values():
    path = over.get("init_from", "")
    if path.startswith(ROW):
      over["init_from"] = os.path.join(os.path.abspath(workdir), "runs",
                                       path.removeprefix(ROW), "seed{seed}")
  out = config_util.with_overrides(config, {})
  out.tuned = tuned
  return out


def method_config(config, name: str):
  """The config of row `name`: config.tuned[name] merged in (nested), and
  method = its "method" entry if it names one (a row that runs a method
  another way, e.g. started from another run), else the row's name."""
  over = config.get("tuned", {}).get(name, {})
  over = dict(over.to_dict() if hasattr(over, "to_dict") else over)
  return config_util.with_overrides(config, over,
                                    method=over.pop("method", name))


def seed_config(c, seed: int):
  """c for one seed: its seed, and its residual base's priors when the
  table chose them per seed (c.seed_base, residual_base.py)."""
  chosen = (c.get("seed_base") or {}).get(str(seed), {})
  return config_util.with_overrides(c, dict(chosen), seed=seed)


def choose_bases(config, preps: dict, workdir: str):
  """config with each seed's residual base (config.base_grid chosen on
  that seed's validation users) as config.seed_base; the choice is kept in
  W/residual_base.json, so a resumed table reads it back."""
  if not config.get("base_grid"):
    return config
  path = os.path.join(workdir, "residual_base.json")
  if os.path.isfile(path):
    chosen = io.read_json(path)
  else:
    chosen = {str(s): residual_base.choose(config, preps[s]) for s in preps}
    io.write_json(path, chosen)
  logging.info("residual base per seed: %s",
               {s: c["chosen"] for s, c in chosen.items()})
  config = config_util.with_overrides(config, {})
  config.seed_base = {s: c["chosen"] for s, c in chosen.items()}
  return config


def run_dir(workdir: str, row: str, seed: int) -> str:
  return os.path.join(workdir, "runs", row, f"seed{seed}")


def point_dir(workdir: str, row: str, seed: int, j: int, n_points: int
              ) -> str:
  """Where grid point j of a seed trains: the seed's own run folder when
  the row has no grid, else <seed run>/grid/<j>."""
  folder = run_dir(workdir, row, seed)
  return folder if n_points == 1 else os.path.join(folder, "grid", str(j))


def row_runs(c, row: str, preps: dict, triples, workdir: str,
             grid_points) -> list:
  """The engine runs of a row's (seed, point, member) triples: member 0 of
  seed s at point j is the row's own run there; members e > 0 live under
  the ensemble's run (or that point's folder, in a grid)."""
  n = len(grid_points)

  def run(s, j, e):
    cs = grid.point_config(seed_config(c, s), grid_points[j])
    folder = point_dir(workdir, row, s, j, n)
    if e > 0:
      folder = os.path.join(run_dir(workdir, ENSEMBLE, s) if n == 1
                            else folder, "members", str(e))
    return engine.Run(cs, preps[s], s + experiment.ENSEMBLE_SEED_STRIDE * e,
                      folder, registry.build(cs, preps[s]))
  return [run(*t) for t in triples]


def _train_row(c, row: str, preps: dict, seeds, members: int, workdir: str,
               grid_points):
  """Trains the row's (seed, point, member) runs; {(seed, point, member):
  (params, record)} and the engine timings."""
  triples = [(s, j, e) for s in seeds for j in range(len(grid_points))
             for e in range(members)]
  groups = [triples] if c.vmap_seeds else [[t] for t in triples]
  out, timing = {}, []
  for group in groups:
    runs = row_runs(c, row, preps, group, workdir, grid_points)
    group_dir = (os.path.join(workdir, "runs", row) if c.vmap_seeds
                 else runs[0].workdir)
    # In a grid a too-high rate is an expected outcome: that point drops.
    trained = engine.train(runs[0].init_method, runs, c, group_dir,
                           drop_diverged=len(grid_points) > 1,
                           log_prefix=f"{row} ")
    timing.append(trained.timing)
    for i, triple in enumerate(group):
      out[triple] = (trained.best_params[i], trained.records[i])
  return out, timing


def _choose(trained: dict, seeds, grid_points) -> dict:
  """{seed: (point index, selection record)}: each seed's best point on
  its own validation users."""
  out = {}
  for s in seeds:
    records = [trained[(s, j, 0)][1] for j in range(len(grid_points))]
    j = grid.choose(records)
    out[s] = (j, records[j] if len(grid_points) == 1 else
              grid.record(grid_points, records, j))
  return out


def _evaluate(folder: str, method, params, c, prep, selection) -> dict:
  """One run's test scenarios, files and results; returns the scenarios."""
  os.makedirs(folder, exist_ok=True)
  res = evaluate.evaluate_scenarios(folder, prep, method, params,
                                    base.hparams(c), c)
  evaluate.write_run(folder, prep, res, c, selection)
  return io.round_floats(res)


def _ensemble_row(c, trained: dict, chosen: dict, preps, seeds, members,
                  workdir, grid_points) -> list:
  """The `ensemble` row: each seed's members (of its chosen grid point)
  stacked, saved and scored."""
  out = []
  for s in seeds:
    j, _ = chosen[s]
    cs = grid.point_config(seed_config(c, s), grid_points[j])
    cs.method, cs.ensemble_method, cs.ensemble_size = (ENSEMBLE, c.method,
                                                       members)
    folder = run_dir(workdir, ENSEMBLE, s)
    params = ensemble.stack([trained[(s, j, e)][0] for e in range(members)])
    checkpoints.save_params(folder, params)
    record = {"members": [trained[(s, j, e)][1] for e in range(members)]}
    if len(grid_points) > 1:
      record["grid_chosen"] = grid_points[j]
    out.append(_evaluate(folder, registry.build(cs, preps[s]), params, cs,
                         preps[s], record))
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
    out["grid"][name] = [r["selection"].get("grid_chosen", {}) for r in done]
    out["grid_validation"][name] = [_grid_records(r["selection"])
                                    for r in done]
    if members > 1:
      out["results"][ENSEMBLE] = [r["scenarios"] for r in
                                  _finished(workdir, ENSEMBLE, seeds)]
    # The row's timing from the process that trained it, when recorded.
    out["timing"][name] = {**out["earlier_timing"].get(name, {}),
                           "read_back": True}
    return
  t0 = time.time()
  grid_points = grid.points(config, name)
  trained, timing = _train_row(c, name, preps, seeds, members, workdir,
                               grid_points)
  chosen = _choose(trained, seeds, grid_points)
  per_seed = []
  for s in seeds:
    j, record = chosen[s]
    cs = grid.point_config(seed_config(c, s), grid_points[j])
    params = trained[(s, j, 0)][0]
    folder = run_dir(workdir, name, s)
    if len(grid_points) > 1:  # The seed's run folder serves its choice.
      checkpoints.save_params(folder, params)
    per_seed.append(_evaluate(folder, registry.build(cs, preps[s]), params,
                              cs, preps[s], record))
  out["results"][name] = [r["scenarios"] for r in per_seed]
  out["floors"] = out["floors"] or [r["floors"] for r in per_seed]
  out["validation"][name] = [round(chosen[s][1]["best_validation_mae"], 6)
                             for s in seeds]
  out["grid"][name] = [grid_points[chosen[s][0]] for s in seeds]
  out["grid_validation"][name] = [_grid_records(chosen[s][1])
                                  for s in seeds]
  if members > 1:
    out["results"][ENSEMBLE] = [r["scenarios"] for r in _ensemble_row(
        c, trained, chosen, preps, seeds, members, workdir, grid_points)]
  rows[name] = {s: trained[(s, chosen[s][0], 0)][0] for s in seeds}
  # Time a stopped process spent on this row, up to its last checkpoint:
  # it never wrote its timing, so only the checkpoints know it.
  earlier = round(sum(t.get("earlier_processes_s", 0.0) for t in timing), 1)
  out["timing"][name] = {"wall_s": round(time.time() - t0, 1),
                         "train": timing}
  if earlier:
    out["timing"][name]["earlier_processes_s"] = earlier
    out["stopped_s"] += earlier


def _grid_records(selection: dict) -> list:
  """The row grid's points (experiments/grid.record) of a selection
  record; runs made before mf_foldin named its own fit grid "fit_grid"
  kept that under "grid", without "point"."""
  return [g for g in selection.get("grid", []) if "point" in g]


def title(config) -> str:
  if config.get("source"):
    return f"Transfer table (from {config.source.data.name})"
  return ("Item warm-up table" if config.data.get("task_axis") == "item"
          else "Cold-start table")


def write_table(workdir: str, out: dict, config) -> dict:
  table = tables.build_table(out["results"], out["floors"])
  tables.add_selection(table, out["validation"],
                       config.get("validation_k_shots", ()))
  if any(any(p) for p in out["grid"].values()):  # Each seed's own choice.
    table["grid_chosen"] = {m: p for m, p in out["grid"].items() if any(p)}
    # Every point's criterion per seed: what the choices compared.
    table["grid_validation"] = {
        m: [[{"point": g["point"], "mae": g["best_validation_mae"]}
             for g in per_seed] for per_seed in v]
        for m, v in out["grid_validation"].items() if any(v)}
  if config.get("seed_base"):
    table["residual_base"] = config.seed_base.to_dict()
    table["residual_base_validation"] = out.get("base_validation", {})
  table["title"] = f"{title(config)}: {config.data.name}"
  io.write_json(os.path.join(workdir, "table.json"), table)
  io.write_text(os.path.join(workdir, "table.md"),
                tables.render_markdown(table))
  return table


def _seed_hparams(workdir: str, name: str, seed: int, c):
  """A finished run's traced values: its grid point's, as results.json
  saved them (the row's config when it had no grid)."""
  path = os.path.join(run_dir(workdir, name, seed), "results.json")
  point = (io.read_json(path)["selection"].get("grid_chosen", {})
           if os.path.isfile(path) else {})
  return base.hparams(grid.point_config(seed_config(c, seed), point))


def _curve_rows(config, table, rows: dict, preps, seeds, workdir) -> dict:
  """The three rows best on validation, with every seed's params (read back
  from the run folders for rows this process did not train) and each
  seed's chosen traced values."""
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
                 {s: _seed_hparams(workdir, name, s, c) for s in seeds})
  return out


def reproduce(config, workdir: str) -> dict:
  """Runs (or resumes) the table; returns table.json's dict."""
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  seeds = list(config.seeds)
  timing_path = os.path.join(workdir, "timing.json")
  earlier = io.read_json(timing_path) if os.path.exists(timing_path) else {}
  preps = {s: pipeline.prepare(config.data, s) for s in seeds}
  config = resolve_rows(choose_bases(config, preps, workdir), workdir)
  out = {"results": {}, "floors": None, "validation": {}, "grid": {},
         "grid_validation": {},
         "earlier_timing": earlier, "stopped_s": 0.0,
         "timing": {"data_s": round(time.time() - t0, 1)}}
  base_path = os.path.join(workdir, "residual_base.json")
  if os.path.isfile(base_path):  # Every point's criterion, per seed.
    out["base_validation"] = {s: c["points"] for s, c in
                              io.read_json(base_path).items()}
  rows = {}

  def write_timing():
    # wall_s sums every process that worked on this workdir (a resumed
    # table's time is the first process's plus the resume's), a process
    # stopped mid-row up to that row's last checkpoint included.
    out["timing"].update(
        wall_s=round(earlier.get("wall_s", 0) + time.time() - t0
                     + out["stopped_s"], 1),
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
