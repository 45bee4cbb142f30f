"""What the engine trains and what it returns: a Run and Trained."""

import dataclasses

import ml_collections

from metarec_jax.data import pipeline


@dataclasses.dataclass
class Run:
  """One training run.

  Attributes:
    config: its full config (method, rates, seed of the data split, ...).
    prep: its prepared data.
    seed: its init key and data order (ensemble members differ here only).
    workdir: its folder: params/ and tensorboard/ go there.
    init_method: the method object that initialises it (its output bias is
      its data's global mean; Meta-SGD's rates start at its inner_lr); None:
      the group's method.
    init_params: params to start from instead of init_method's (a refresh
      continues a served run, serving/refresh.py); None: a fresh init.
  """
  config: ml_collections.ConfigDict
  prep: pipeline.Prepared
  seed: int
  workdir: str
  init_method: object = None
  init_params: object = None
  # A train/init_from.Source to start from (engine.pretrain sets it).
  init_source: object = None


@dataclasses.dataclass
class Trained:
  """best_params, final_params: per run (numpy pytrees); records: per run
  {best_step, best_validation_mae, history: [[step, mae]], diverged_at?}."""
  best_params: list
  final_params: list
  records: list
  timing: dict
