"""mf_meta: it starts exactly where its seed's mf_foldin fit ends, and
selection keeps that start unless meta-training improves on validation."""

import jax
import numpy as np

from metarec_jax.core import io
from metarec_jax.data import pipeline
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, registry
from metarec_jax.train import checkpoints, engine, experiment
from tiny_run import tiny_config, write_dataset


def _config(folder, method):
  c = tiny_config(folder, num_steps=4, every=2)
  c.method, c.model.residual = method, True
  c.bias_prior, c.catalogue = 3.0, False
  c.mf_ranks, c.mf_regs, c.mf_fold_regs, c.mf_sweeps = (4,), (5.0,), (
      2.0, 10.0), 3
  return c


def test_mf_meta_starts_at_mf_foldin_and_keeps_it_unless_it_improves(
    tmp_path):
  folder = write_dataset(str(tmp_path / "data"))
  fit_dir = str(tmp_path / "mf_foldin")
  c_fit = _config(folder, "mf_foldin")
  fit = experiment.train_and_evaluate(c_fit, fit_dir)
  prep = pipeline.prepare(c_fit.data, 0)
  tasks = prep.tasks["validation"]
  fold = registry.build(c_fit, prep)
  want = predict.predict_tasks(
      fold, checkpoints.restore_for(fit_dir, fold, prep.tables), prep.tables,
      tasks, base.hparams(c_fit), 16, (32,))

  c = _config(folder, "mf_meta")
  c.init_from = fit_dir
  runs = experiment.runs_for(c, prep, str(tmp_path / "start"))
  group = engine.Group(runs[0].init_method, runs, c, str(tmp_path / "start"))
  start = jax.device_get(engine.take(group.states.params, 0))
  got = predict.predict_tasks(runs[0].init_method, start, prep.tables, tasks,
                              base.hparams(c), 16, (32,))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

  experiment.train_and_evaluate(c, str(tmp_path / "meta"))
  record = io.read_json(str(tmp_path / "meta" / "results.json"))["selection"]
  chosen = io.read_json(fit_dir + "/results.json")["selection"]
  assert record["history"][0][0] == 0  # The start competes as step 0.
  assert abs(record["history"][0][1] - chosen["best_validation_mae"]) < 1e-5
  assert record["best_validation_mae"] <= record["history"][0][1]
  assert [h[0] for h in record["history"]] == [0, 2, 4]
  del fit
