"""train_and_evaluate(config, workdir): scripts/main.py's experiment.

One run of the engine (R = 1, or the members of an ensemble), selected on
validation users, then each test scenario read once. Writes into workdir:
results.json, predictions_<scenario>.csv, split.json, timing.json,
params/ (what serving loads), checkpoints/ and tensorboard/.
"""

import os
import time

import jax

from metarec_jax.core import compile_log, io
from metarec_jax.data import batching, pipeline
from metarec_jax.evaluation import evaluate
from metarec_jax.meta import base, ensemble, registry
from metarec_jax.train import checkpoints, engine

# Member e of an ensemble inits (and orders its data) from seed + 1000 e.
ENSEMBLE_SEED_STRIDE = 1000


def runs_for(config, prep, workdir: str) -> list:
  """The engine runs of one experiment: itself, or its ensemble members
  (in workdir/members/<e>), each with its own init seed."""
  c = registry.member_config(config)
  method = registry.build(c, prep)
  if config.method != registry.ENSEMBLE:
    return [engine.Run(config, prep, config.seed, workdir, method)]
  return [engine.Run(c, prep, config.seed + ENSEMBLE_SEED_STRIDE * e,
                     os.path.join(workdir, "members", str(e)), method)
          for e in range(config.ensemble_size)]


def selected(config, trained: engine.Trained):
  """(params, selection record) of the experiment's method: the run's own,
  or the members' stacked best params and their records."""
  if config.method != registry.ENSEMBLE:
    return trained.best_params[0], trained.records[0]
  return ensemble.stack(trained.best_params), {"members": trained.records}


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs one experiment; returns the results dict also written to disk.
  timing.json's "compiles" says which functions compiled, how often and
  for how long (core/compile_log.py)."""
  with compile_log.CompileLog() as compiles:
    return _train_and_evaluate(config, workdir, compiles)


def _train_and_evaluate(config, workdir: str, compiles) -> dict:
  os.makedirs(workdir, exist_ok=True)
  t_start = time.time()
  prep = pipeline.prepare(config.data, config.seed)
  t_data = time.time() - t_start
  runs = runs_for(config, prep, workdir)
  trained = engine.train(runs[0].init_method, runs, config, workdir)
  params, record = selected(config, trained)
  method = runs[0].init_method  # Built once (a _lora build reads the encoder).
  if config.method == registry.ENSEMBLE:
    method = ensemble.Ensemble(method, config.ensemble_size)
  if config.method == registry.ENSEMBLE:
    checkpoints.save_params(workdir, params)
  t_eval = time.time()
  results = evaluate.evaluate_scenarios(workdir, prep, method, params,
                                        base.hparams(config), config)
  evaluate.write_run(workdir, prep, results, config, record)
  io.write_json(os.path.join(workdir, "timing.json"), {
      **trained.timing, "data_s": t_data, "eval_s": time.time() - t_eval,
      "wall_s": time.time() - t_start, "batch_size": config.batch_size,
      "catalogue_s": results.get("catalogue_s"),
      "inner_steps": config.inner_steps, "backend": jax.default_backend(),
      "padding_fraction": batching.padding_fraction(
          prep.tasks["train"], config.batch_size, config.data.buckets),
      "compiles": compiles.summary()})
  return results
