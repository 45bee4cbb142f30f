"""Orbax checkpoints: a group's train state (to resume) and each run's
best-on-validation parameters (to serve).

  <group>/checkpoints/<step>/  the stacked train states, the stacked best
                               params so far and the records (JSON); the
                               latest two are kept. Orbax commits a step
                               atomically: a partial write is never latest.
  <run>/params/                the run's selected parameters, written once
                               training ends; what serving restores.
"""

import logging as py_logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from metarec_jax.core.errors import ServingError

PARAMS = "params"


class _DropOrbaxInfo(py_logging.Filter):
  """Orbax logs a dozen INFO lines per save; keep its warnings only."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    return (record.levelno >= py_logging.WARNING
            or "/orbax/" not in record.pathname)


_absl_logger = py_logging.getLogger("absl")
if not any(isinstance(f, _DropOrbaxInfo) for f in _absl_logger.filters):
  _absl_logger.addFilter(_DropOrbaxInfo())


def _abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class GroupCheckpointer:
  """Saves and restores {state, best, meta} of a group of runs."""

  def __init__(self, group_dir: str, max_to_keep: int = 2):
    self._mngr = ocp.CheckpointManager(
        os.path.join(os.path.abspath(group_dir), "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self):
    return self._mngr.latest_step()

  def save(self, step: int, state, best, meta: dict) -> None:
    self._mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        best=ocp.args.StandardSave(best),
        meta=ocp.args.JsonSave(meta)), force=True)
    self._mngr.wait_until_finished()

  def restore(self, step: int, state_like, best_like):
    r = self._mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(state_like)),
        best=ocp.args.StandardRestore(_abstract(best_like)),
        meta=ocp.args.JsonRestore()))
    return r["state"], r["best"], r["meta"]

  def close(self) -> None:
    self._mngr.close()


def save_params(run_dir: str, params) -> None:
  """Writes a run's selected parameters to <run_dir>/params (replacing)."""
  path = os.path.join(os.path.abspath(run_dir), PARAMS)
  with ocp.StandardCheckpointer() as ckpt:
    ckpt.save(path, params, force=True)


def restore_for(run_dir: str, method, tables):
  """A run's selected parameters for method (shaped by its init)."""
  like = jax.eval_shape(method.init, jax.random.key(0),
                        jax.tree.map(np.asarray, tables))
  return restore_params(run_dir, like)


def restore_params(run_dir: str, params_like):
  """A run's selected parameters, shaped like params_like (arrays or
  ShapeDtypeStructs)."""
  path = os.path.join(os.path.abspath(run_dir), PARAMS)
  if not os.path.isdir(path):
    raise ServingError(f"{path}: no saved parameters; --workdir must be a "
                       "finished run (scripts/main.py or a table's "
                       "runs/<row>/seed<s>).")
  with ocp.StandardCheckpointer() as ckpt:
    return ckpt.restore(path, _abstract(params_like))
