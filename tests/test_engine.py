"""The one engine: traces, vmapped runs, scanned steps, early stopping, the
files of an experiment, and that training and selection read no test
scenario."""

import json

import chex
import jax
import numpy as np
import pytest

from metarec_jax.core.errors import ScenarioLeak
from metarec_jax.data import batching, pipeline
from metarec_jax.evaluation import evaluate, floors, predict
from metarec_jax.experiments import sweep
from metarec_jax.meta import base, registry
from metarec_jax.serving import recommender
from metarec_jax.train import early_stop, engine, experiment, step
from tiny_run import tiny_config, write_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """The engine is method-blind: first-order MeLU compiles fastest."""
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder)
  config.method, config.inner_steps, config.model.hidden = "melu_fo", 1, (8,)
  return config, pipeline.prepare(config.data, 0)


def _one(tree):
  return engine.stack([tree])


def _states(method, prep, config):
  tables = jax.tree.map(np.asarray, prep.tables)
  return (_one(step.init_state(method, tables, 0, 1e-2, 0.0, 10.0)),
          _one(tables), _one(base.hparams(config)))


def test_step_traced_once_per_shape(tiny):
  config, prep = tiny
  method = registry.build(config, prep)
  chex.clear_trace_counter()
  step_fn = step.make_step(method, 10.0, max_traces=2)
  states, tables, hp = _states(method, prep, config)
  tasks = prep.tasks["train"]
  for size in (16, 32):
    idx = np.flatnonzero(tasks.support_sizes <= size)
    for start in (0, 4):  # Same shape, other data: no retrace.
      batch = _one(batching.pad_tasks(tasks, idx[start:start + 4], size, 4))
      states, m = step_fn(states, tables, batch, hp)
  assert np.isfinite(np.asarray(m["loss"])).all()
  with pytest.raises(AssertionError, match="traced > 2"):
    step_fn(states, tables, _one(batching.pad_tasks(tasks, idx[:4], 48, 4)),
            hp)


def test_steps_lower_the_query_loss_and_scan_equals_stepwise(tiny):
  config, prep = tiny
  method = registry.build(config, prep)
  states, tables, hp = _states(method, prep, config)
  tasks = prep.tasks["train"]
  batch = _one(batching.pad_tasks(
      tasks, np.flatnonzero(tasks.support_sizes <= 32)[:8], 32, 8))
  copy = jax.tree.map(jax.numpy.copy, states)
  step_fn = step.make_step(method, 10.0)
  losses = []
  for _ in range(20):
    states, m = step_fn(states, tables, batch, hp)
    losses.append(float(m["loss"][0]))
  assert losses[-1] < 0.8 * losses[0]
  scanned = step.make_scanned_steps(method, 10.0)
  copy, ms = scanned(copy, tables, batching.stack([batch] * 20), hp)
  assert ms["loss"].shape == (20, 1)
  np.testing.assert_allclose(np.asarray(ms["loss"])[:, 0], losses,
                             rtol=1e-5)
  for a, b in zip(jax.tree.leaves(states.params),
                  jax.tree.leaves(copy.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_vmapped_runs_equal_runs_one_by_one(tiny, tmp_path):
  config, prep = tiny
  method = registry.build(config, prep)
  a, b = (config.copy_and_resolve_references() for _ in range(2))
  b.outer_lr, b.weight_decay, b.inner_lr = 3e-3, 1e-2, 0.2
  runs = lambda *pairs: [engine.Run(c, prep, s, str(tmp_path / f"{tag}{s}"),
                                    registry.build(c, prep))
                         for tag, c, s in pairs]
  together = engine.train(method, runs(("t", a, 0), ("t", b, 1)), config,
                          str(tmp_path / "together"))
  for i, (c, s) in enumerate(((a, 0), (b, 1))):
    alone = engine.train(method, runs(("a", c, s)), config,
                         str(tmp_path / f"alone{s}"))
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5,
                                                         atol=1e-6),
                 together.final_params[i], alone.final_params[0])
    np.testing.assert_allclose(together.records[i]["best_validation_mae"],
                               alone.records[0]["best_validation_mae"],
                               rtol=1e-5)
  # The runs really differ (seed, rates): the test can fail.
  x, y = (jax.tree.leaves(p) for p in together.final_params)
  assert any(np.max(np.abs(u - v)) > 1e-4 for u, v in zip(x, y))


def _stop_step(histories, patience, on_mean):
  """The 1-based evaluation at which EarlyStop stops (None: never)."""
  stopper = early_stop.EarlyStop(patience, on_mean)
  best = [np.inf] * len(histories)
  for t, latest in enumerate(zip(*histories), 1):
    improved = any(m < b for m, b in zip(latest, best))
    best = [min(m, b) for m, b in zip(latest, best)]
    if stopper.update(list(latest), improved):
      return t
  return None


def test_early_stop_on_mean_ignores_one_noisy_run():
  # Run a peaks at evaluation 2; run b keeps setting new lows by tiny steps
  # while the mean (0.80, 0.75, then 0.795 three times) stops improving.
  a = [0.80, 0.70, 0.80, 0.81, 0.82, 0.83]
  b = [0.80, 0.80, 0.79, 0.78, 0.77, 0.76]
  assert _stop_step([a, b], 2, on_mean=False) is None
  assert _stop_step([a, b], 2, on_mean=True) == 4
  assert _stop_step([a, b], 0, on_mean=True) is None  # patience 0: never.


def test_experiment_files_recompute_from_the_csvs(tiny, tmp_path):
  config, _ = tiny
  results = experiment.train_and_evaluate(config, str(tmp_path))
  for name in ("results.json", "split.json", "timing.json", "params",
               "checkpoints", "tensorboard"):
    assert (tmp_path / name).exists(), name
  saved = json.loads((tmp_path / "results.json").read_text())
  assert set(saved["floors"]) == set(floors.FLOORS)
  assert saved["selection"]["history"][-1][0] == config.num_steps
  scored = [s for s in ("warm", "user_cold", "item_cold", "user_item_cold")
            if results["scenarios"][s]["n_ratings"]]
  assert scored  # The tiny data has user_cold tasks only.
  for s in scored:
    rows = np.loadtxt(tmp_path / f"predictions_{s}.csv", delimiter=",",
                      skiprows=1, ndmin=2)
    assert len(rows) == results["scenarios"][s]["n_ratings"]
    assert np.abs(rows[:, 2] - rows[:, 3]).mean() == pytest.approx(
        saved["scenarios"][s]["mae"], abs=1e-6)


def test_training_and_selection_read_no_test_scenario(tiny, tmp_path,
                                                      monkeypatch):
  """Reading a test scenario raises while training and selecting (the
  engine, and a sweep); only the evaluation after them reads one."""
  config, prep = tiny

  def forbidden(self, name):
    raise ScenarioLeak(f"test scenario {name} read")

  monkeypatch.setattr(pipeline.Prepared, "test_tasks", forbidden)
  method = registry.build(config, prep)
  trained = engine.train(method, [engine.Run(config, prep, 0, str(
      tmp_path / "run"), method)], config, str(tmp_path / "run"))
  c = config.copy_and_resolve_references()
  c.sweep = {"seeds": (0,), "inner_lr": (0.05, 0.1), "outer_lr": (),
             "weight_decay": (), "bias_prior": (), "support_prior": (),
             "inner_steps": (), "embed_dim": (), "item_id_dropout": ()}
  sweep.run_sweep(c, "melu", str(tmp_path / "sweep"))
  with pytest.raises(ScenarioLeak):  # The guard is live: this reads.
    evaluate.evaluate_scenarios(str(tmp_path), prep, method,
                                trained.best_params[0],
                                base.hparams(config), config)


def test_an_ensemble_experiment_serves_its_members_mean(tiny, tmp_path):
  """method=ensemble trains ensemble_size member runs (own init seeds, own
  selection) and serves the mean of their predictions."""
  config, prep = tiny
  c = config.copy_and_resolve_references()
  c.method, c.ensemble_method, c.ensemble_size = "ensemble", "melu_fo", 2
  experiment.train_and_evaluate(c, str(tmp_path))
  saved = json.loads((tmp_path / "results.json").read_text())
  assert len(saved["selection"]["members"]) == 2
  rec = recommender.Recommender.load(str(tmp_path))
  member = registry.build(registry.member_config(c), prep)
  support = [(int(prep.items.ids[i]), 4.0) for i in range(3)]
  batch = rec.serving_batch([(np.arange(3, dtype=np.int32),
                              np.full(3, 4.0, np.float32))])
  each = [predict.predict_batch(member, jax.tree.map(lambda x: x[e],
                                                     rec.params),
                                rec.tables, batch, rec.hparams)[0]
          for e in range(2)]
  assert np.abs(each[0] - each[1]).max() > 1e-4  # Two different members.
  np.testing.assert_allclose(rec.adapt(support).scores,
                             (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-5)
