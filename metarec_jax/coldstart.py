"""The cold-start table: every method and floor, seeds vmapped, one workdir.

reproduce(config, workdir) trains each method of config.methods on every
seed (one vmapped computation per method when config.vmap_seeds), selects
each seed's parameters on its validation users, evaluates the four test
scenarios once, and writes per run W/runs/<method>/seed<s>/{results.json,
predictions_*.csv}, then W/table.json, W/table.md and W/timing.json. With
config.ensemble_size > 1, config.ensemble_method is trained with that many
init seeds per data seed (same split) and their averaged predictions are
the `ensemble` row. With config.curve_ks, the three methods with the best
mean validation MAE and the floors are evaluated against support size K
(curve.py).
"""

import os
import time

from absl import logging
import jax
import ml_collections
import numpy as np

from metarec_jax import evaluate, methods, metrics, runs, tables, zoo
from metarec_jax.data import pipeline, scenarios
from metarec_jax.meta import residual

ENSEMBLE_SEED_STRIDE = 1000  # Member e of seed s inits from s + 1000 e.


def method_config(config, name: str) -> ml_collections.ConfigDict:
  """config with method = name and config.tuned[name] merged in (nested)."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.method = name

  def merge(target, overrides):
    for key, value in overrides.items():
      if isinstance(value, (dict, ml_collections.ConfigDict)):
        merge(target[key], value)
      else:
        target[key] = value

  merge(c, config.get("tuned", {}).get(name, {}))
  return c


def make_run(c, preps: dict, seed: int, member: int = 0) -> runs.Run:
  """The run of data seed `seed` (its prep) and ensemble member `member`."""
  return runs.Run(preps[seed], seed + ENSEMBLE_SEED_STRIDE * member,
                  c.outer_lr, c.get("weight_decay", 0.0), methods.hparams(c),
                  zoo.build(c, preps[seed]))


def train_method(c, preps: dict, seeds, members: int = 1) -> dict:
  """Trains (seed, member) runs; returns {(seed, member): (params, record)}."""
  pairs = [(s, e) for s in seeds for e in range(members)]
  method = zoo.build(c, preps[seeds[0]])
  hp = methods.hparams(c)
  make = lambda s, e: make_run(c, preps, s, e)
  groups = [pairs] if c.get("vmap_seeds", True) else [[p] for p in pairs]
  out, timing = {}, []
  for group in groups:
    res = runs.train_runs(method, [make(s, e) for s, e in group], c,
                          f"{c.method} {group}: ", stop_on_mean=True)
    timing.append(res["timing"])
    for i, pair in enumerate(group):
      out[pair] = (res["best_params"][i], res["records"][i])
  return {"runs": out, "predict_fn": res["predict_fn"], "hparams": hp,
          "timing": timing}


def seed_config(c, seed: int):
  c = ml_collections.ConfigDict(c.to_dict())
  c.seed = seed
  return c


def evaluate_runs(trained: dict, c, preps: dict, seeds, workdir: str):
  """Writes each seed's files; returns ([per-seed scenarios], [floors])."""
  per_seed, floor_res = [], []
  for s in seeds:
    params, record = trained["runs"][(s, 0)]
    run_dir = os.path.join(workdir, "runs", c.method, f"seed{s}")
    os.makedirs(run_dir, exist_ok=True)
    res = evaluate.evaluate_scenarios(run_dir, preps[s], trained["predict_fn"],
                                      params, trained["hparams"],
                                      seed_config(c, s))
    res.update(seed=s, config=c.to_dict(), selection=record)
    evaluate.write_json(os.path.join(run_dir, "results.json"),
                        evaluate.round_floats(res))
    per_seed.append(res["scenarios"])
    floor_res.append(res["floors"])
  return per_seed, floor_res


def ensemble_results(trained: dict, c, preps: dict, seeds, members: int,
                     workdir: str) -> list:
  """Per seed: metrics of the members' averaged (then clipped) predictions."""
  per_seed = []
  for s in seeds:
    prep, out = preps[s], {}
    run_dir = os.path.join(workdir, "runs", "ensemble", f"seed{s}")
    os.makedirs(run_dir, exist_ok=True)
    for name in scenarios.SCENARIOS:
      tasks = prep.tasks[name]
      preds = [evaluate.predict_tasks(
          trained["predict_fn"], trained["runs"][(s, e)][0], prep.tables,
          tasks, trained["hparams"], c.eval_batch_size, c.data.buckets)
               for e in range(members)]
      pred = evaluate.clip(np.mean(preds, 0), prep.rating_range)
      evaluate.write_predictions(
          os.path.join(run_dir, f"predictions_{name}.csv"), prep, tasks, pred)
      out[name] = metrics.compute_metrics(tasks.query_ratings,
                                          np.round(pred.astype(np.float64), 6))
    evaluate.write_json(os.path.join(run_dir, "results.json"),
                        evaluate.round_floats({"scenarios": out, "seed": s,
                                               "members": members}))
    per_seed.append(out)
  return per_seed


def write_table(workdir: str, results: dict, floor_res, config,
                validation=None) -> dict:
  """validation: {method: [best validation MAE per seed]} (the selection)."""
  table = tables.build_table(results, floor_res)
  if validation:
    tables.add_selection(table, validation,
                         config.get("validation_k_shots", ()))
  evaluate.write_json(os.path.join(workdir, "table.json"), table)
  md = tables.markdown(table, f"Cold-start table: {config.data.name}")
  evaluate.write_text(os.path.join(workdir, "table.md"), md)
  return table


def reproduce(config, workdir: str) -> dict:
  """Runs the table; returns table.json's dict."""
  from metarec_jax import curve  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  t0 = time.time()
  seeds = list(config.seeds)
  preps = {s: pipeline.prepare(config.data, s) for s in seeds}
  for prep in preps.values():
    residual.add_item_means(prep)
  timing = {"data_s": time.time() - t0, "methods": {}}
  results, floor_res, trained_all, validation = {}, None, {}, {}
  ens_method = config.get("ensemble_method", "")
  ens_size = config.get("ensemble_size", 0)
  for name in config.methods:
    t1 = time.time()
    c = method_config(config, name)
    members = ens_size if (name == ens_method and ens_size > 1) else 1
    trained = train_method(c, preps, seeds, members)
    results[name], fr = evaluate_runs(trained, c, preps, seeds, workdir)
    floor_res = floor_res or fr
    validation[name] = [float(trained["runs"][(s, 0)][1]
                              ["best_validation_mae"]) for s in seeds]
    if members > 1:
      results["ensemble"] = ensemble_results(trained, c, preps, seeds,
                                             members, workdir)
    trained_all[name] = (trained, c)
    timing["methods"][name] = {"wall_s": round(time.time() - t1, 1),
                               "train": trained["timing"]}
    logging.info("%s done in %.1fs", name, time.time() - t1)
    # Rewritten after every method: a long run leaves a valid partial table.
    table = write_table(workdir, results, floor_res, config, validation)
    evaluate.write_json(os.path.join(workdir, "timing.json"), timing)
  if config.get("curve_ks"):
    val = table["validation_mae"]
    top = sorted(val, key=val.get)[:3]
    curve.write_curve(workdir, config, {m: trained_all[m] for m in top},
                      seeds, preps)
  timing.update(wall_s=round(time.time() - t0, 1),
                validation_mae=table.get("validation_mae"),
                backend=jax.default_backend(),
                load_avg=os.getloadavg(), cpus=os.cpu_count())
  evaluate.write_json(os.path.join(workdir, "timing.json"), timing)
  return table
