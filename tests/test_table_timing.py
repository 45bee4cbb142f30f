"""scripts/table_step_time.py's timing (experiments/table_timing.py) builds
the runs a table row trains: every seed at every grid point, vmapped."""

from configs.tables import coldstart as table_config
from metarec_jax.data import pipeline
from metarec_jax.experiments import grid, table_timing


def test_a_row_is_timed_over_its_seeds_and_grid_points():
  config = table_config.get_config("ml100k,smoke")
  config.seeds = (0, 1)
  config.grid = {"finetune": {"support_prior": (10.0, 30.0)}}  # Smoke's is {}.
  preps = {s: pipeline.prepare(config.data, s) for s in config.seeds}
  name = "finetune"
  points = grid.points(config, name)
  assert len(points) == 2
  got = table_timing.time_method(config, preps, name, steps=1)
  assert got["grid_points"] == len(points)
  assert got["runs"] == len(config.seeds) * len(points)
  assert got["steps_timed"] == 1 and got["ms_per_step_median"] > 0


def test_the_ensemble_row_is_timed_with_its_members():
  config = table_config.get_config("ml100k,smoke")
  config.seeds, config.ensemble_size = (0,), 3
  preps = {0: pipeline.prepare(config.data, 0)}
  got = table_timing.time_method(config, preps, config.ensemble_method,
                                 steps=1)
  assert got["ensemble_members"] == 3
  assert got["runs"] == 3 * got["grid_points"]
