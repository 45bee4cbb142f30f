"""When a group of runs stops training: patience over validation MAE."""

import numpy as np


class EarlyStop:
  """Counts evaluations without improvement; update() says when to stop.

  on_mean: improvement means a lower mean of the runs' latest validation
  MAEs than at any earlier evaluation (the runs are seeds of one
  configuration: its curve; with "any run improved", one noisy seed of five
  kept the others training). Otherwise any run reaching its own best counts
  (a sweep: each configuration's own curve). patience 0 never stops.
  """

  def __init__(self, patience: int, on_mean: bool):
    self.patience, self.on_mean = patience, on_mean
    self.best_mean, self.since_best = float("inf"), 0

  def update(self, latest_maes, any_run_improved: bool) -> bool:
    improved = any_run_improved
    if self.on_mean:
      mean = float(np.mean(latest_maes))
      improved = mean < self.best_mean
      self.best_mean = min(mean, self.best_mean)
    self.since_best = 0 if improved else self.since_best + 1
    return bool(self.patience) and self.since_best >= self.patience

  def state(self) -> dict:
    return {"best_mean": self.best_mean, "since_best": self.since_best}

  def restore(self, state: dict) -> None:
    self.best_mean, self.since_best = state["best_mean"], state["since_best"]
