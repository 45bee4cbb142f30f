"""Seeds (and hyperparameters) as one vmapped computation == one by one."""

import jax
import numpy as np

from configs.tables import coldstart as table_config
from metarec_jax import runs, zoo
from metarec_jax.data import batching


def _config():
  c = table_config.get_config("ml100k,smoke")
  c.method, c.inner_steps, c.batch_size = "melu_fo", 1, 8
  c.num_steps, c.eval_every, c.patience = 2, 2, 0
  c.model.residual = False  # The shared fixture has no item_mean table.
  return c


def test_vmapped_runs_equal_runs_one_by_one(ml100k_prep):
  c = _config()
  method = zoo.build(c, ml100k_prep)
  batch_runs = [
      runs.Run(ml100k_prep, 0, 1e-3, 0.0, {"inner_lr": np.float32(0.05)}),
      runs.Run(ml100k_prep, 1, 3e-3, 1e-2, {"inner_lr": np.float32(0.2)}),
  ]
  together = runs.train_runs(method, batch_runs, c)
  for i, r in enumerate(batch_runs):
    alone = runs.train_runs(method, [r], c)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5,
                                                         atol=1e-6),
                 together["final_params"][i], alone["final_params"][0])
    np.testing.assert_allclose(
        together["records"][i]["best_validation_mae"],
        alone["records"][0]["best_validation_mae"], rtol=1e-5)
  # The runs really differ (seed, rates): the test can fail.
  a, b = (jax.tree.leaves(p) for p in together["final_params"])
  assert any(np.max(np.abs(x - y)) > 1e-4 for x, y in zip(a, b))


def test_repad_adds_only_masked_zeros(ml100k_prep):
  tasks = ml100k_prep.tasks["train"]
  idx = np.flatnonzero(tasks.support_sizes <= 16)[:4]
  small = batching.pad_tasks(tasks, idx, 16, 4)
  big = batching.repad(small, 96)
  assert big.support_items.shape == (4, 96)
  np.testing.assert_array_equal(big.support_mask[:, 16:], 0)
  np.testing.assert_array_equal(big.support_ratings[:, :16],
                                small.support_ratings)


def _stop_step(histories, patience, on_mean):
  """The 1-based evaluation at which EarlyStop stops (None: never)."""
  stopper, best = runs.EarlyStop(patience, on_mean), [np.inf] * len(histories)
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


def test_table_step_time_runs_every_seed(ml100k_prep):
  import dataclasses
  from metarec_jax import table_timing
  from metarec_jax.meta import residual
  c = table_config.get_config("ml100k,smoke")
  c.seeds = (0, 1)
  prep = dataclasses.replace(ml100k_prep)  # The fixture is shared.
  residual.add_item_means(prep)
  out = table_timing.time_method(c, {0: prep, 1: prep}, "melu_fo", steps=2)
  assert out["runs"] == 2 and out["steps_timed"] == 2
  assert out["ms_per_step_median"] > 0 and out["cpu_per_wall"] > 0
