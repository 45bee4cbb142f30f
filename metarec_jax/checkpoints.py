"""Orbax checkpoints of the train state plus the best-on-validation params.

A run restarted on the same workdir restores the latest step and continues;
orbax commits each step atomically (a partial write is never `latest`).
"""

import logging as py_logging
import os

import jax
import orbax.checkpoint as ocp


class _DropOrbaxInfo(py_logging.Filter):
  """Orbax logs a dozen INFO lines per save; keep its warnings only."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    return (record.levelno >= py_logging.WARNING
            or "/orbax/" not in record.pathname)


_absl_logger = py_logging.getLogger("absl")
if not any(isinstance(f, _DropOrbaxInfo) for f in _absl_logger.filters):
  _absl_logger.addFilter(_DropOrbaxInfo())


class Checkpointer:
  """Saves {state, best_params} as pytrees and run metadata as JSON."""

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self._mngr = ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self):
    return self._mngr.latest_step()

  def save(self, step: int, state, best_params, meta: dict) -> None:
    self._mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        best_params=ocp.args.StandardSave(best_params),
        meta=ocp.args.JsonSave(meta)))
    self._mngr.wait_until_finished()

  def restore(self, step: int, state_like, params_like):
    abstract = lambda t: jax.tree.map(ocp.utils.to_shape_dtype_struct, t)
    r = self._mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract(state_like)),
        best_params=ocp.args.StandardRestore(abstract(params_like)),
        meta=ocp.args.JsonRestore()))
    return r["state"], r["best_params"], r["meta"]

  def close(self) -> None:
    self._mngr.close()
