"""Task-axis data parallelism: one config on 1 CPU, 8 GPUs or a TPU slice.

The mesh has one axis, "tasks". Task batches are split along their task
axis; parameters, optimizer state and feature tables are replicated (every
run's: runs are vmapped on each device).
The jitted meta-step is unchanged: XLA inserts the cross-device mean of the
gradients because the loss is a mean over the sharded task axis.
Multi-host runs call `initialize_distributed()` first (jax.distributed).
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from metarec_jax.core.errors import ConfigError

TASK_AXIS = "tasks"


def initialize_distributed(coordinator: str = "", num_processes: int = 0,
                           process_id: int = -1,
                           heartbeat_timeout: int = 100) -> None:
  """Starts jax.distributed; with no coordinator, from the cluster
  environment (SLURM, TPU pods, ...) as JAX auto-detects it. CPU processes
  talk through gloo (the CPU collectives), so the same code runs as several
  processes of one machine. A process that stops answering for
  heartbeat_timeout seconds stops the others, with an error naming it."""
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = {"heartbeat_timeout_seconds": heartbeat_timeout}
  if coordinator:
    kwargs.update(coordinator_address=coordinator,
                  num_processes=num_processes, process_id=process_id)
  jax.distributed.initialize(**kwargs)


def task_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D mesh over all (or the first num_devices) devices."""
  devices = jax.devices()
  if num_devices:
    devices = devices[:num_devices]
  return Mesh(np.array(devices), (TASK_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def task_sharded(mesh: Mesh, task_axis: int = 0) -> NamedSharding:
  return NamedSharding(mesh, P(*([None] * task_axis), TASK_AXIS))


def shard_batch(batch, mesh: Mesh, task_axis: int = 0):
  """Places every array of a TaskBatch with its task axis (0, or 1 behind
  the run axis) split over the mesh. The batch size must be a multiple of
  the device count."""
  n, tasks = mesh.devices.size, batch.user.shape[task_axis]
  if tasks % n:
    raise ConfigError(f"--config.batch_size={tasks} does not split over {n} "
                      f"devices; use a multiple of {n}.")
  sharded = task_sharded(mesh, task_axis)
  # Every host builds the same global batch (same seed, same schedule) and
  # hands each of its devices that device's slice; this works multi-host.
  return jax.tree.map(
      lambda x: jax.make_array_from_callback(x.shape, sharded,
                                             lambda idx: x[idx]), batch)


def _replicate_leaf(x, rep: NamedSharding):
  """One leaf on every device of every process; each process fills its own
  devices from its (identical) host copy."""
  if jax.dtypes.issubdtype(getattr(x, "dtype", np.float32),
                           jax.dtypes.prng_key):
    # Typed keys have no host form: move their raw data, then rewrap.
    data = np.asarray(jax.random.key_data(x))
    return jax.random.wrap_key_data(_replicate_leaf(data, rep),
                                    impl=jax.random.key_impl(x))
  host = np.asarray(x)
  return jax.make_array_from_callback(host.shape, rep, lambda idx: host[idx])


def replicate(tree, mesh: Mesh):
  rep = replicated(mesh)
  return jax.tree.map(lambda x: _replicate_leaf(x, rep), tree)
