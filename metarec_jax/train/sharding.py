"""Runs x tasks over every device of every process: one config on 1 CPU,
8 GPUs, a TPU slice or several hosts.

The mesh has two axes. "runs" splits the engine's runs (a table's seeds and
grid points, a sweep's points) over devices: runs are independent, so that
axis needs no communication. "tasks" splits each run's task batch: the loss
is a mean over tasks, so XLA inserts the cross-device mean of the gradients.
Run-axis state (parameters, optimizer state, feature tables) is split with
the runs; a method's code never sees a device. Multi-process runs call
`initialize_distributed()` first (jax.distributed); every process then
holds its devices' share of the runs and tasks.
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from metarec_jax.core.errors import ConfigError

RUN_AXIS, TASK_AXIS = "runs", "tasks"


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
  """A mesh over all (or the first num_devices) devices, tasks only."""
  return run_task_mesh(1, num_devices)


def run_task_mesh(num_runs: int, num_devices: int = 0) -> Mesh:
  """A (runs, tasks) mesh over all (or the first num_devices) devices: as
  many devices on the run axis as divide both counts (runs need no
  communication), the rest on the task axis."""
  devices = jax.devices()
  if num_devices:
    devices = devices[:num_devices]
  runs = np.gcd(num_runs, len(devices))
  return Mesh(np.array(devices).reshape(runs, len(devices) // runs),
              (RUN_AXIS, TASK_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def run_sharded(mesh: Mesh) -> NamedSharding:
  """Leading axis = runs."""
  return NamedSharding(mesh, P(RUN_AXIS))


def task_sharded(mesh: Mesh, task_axis: int = 0) -> NamedSharding:
  """The task axis split over "tasks"; the axis before it, when there is
  one, is the run axis, split over "runs"."""
  spec = [None] * task_axis + [TASK_AXIS]
  if task_axis:
    spec[task_axis - 1] = RUN_AXIS
  return NamedSharding(mesh, P(*spec))


def shard_batch(batch, mesh: Mesh, task_axis: int = 0):
  """Places every array of a TaskBatch with its task axis (0, or 1 behind
  the run axis, 2 for a scan's stacked batches) split over the mesh. The
  batch size must be a multiple of the task axis's device count."""
  check_split(batch.user.shape[task_axis], mesh)
  return place(batch, task_sharded(mesh, task_axis))


def check_split(tasks: int, mesh: Mesh) -> None:
  n = mesh.shape[TASK_AXIS]
  if tasks % n:
    raise ConfigError(f"--config.batch_size={tasks} does not split over {n} "
                      f"devices; use a multiple of {n}.")


def assemble(shape: tuple, sharding_: NamedSharding, piece):
  """A global tree whose leaves lead with `shape`, laid out by sharding_,
  built from this process's devices' pieces only: piece(index) is the host
  tree of the block `index` (one range(start, stop) per leading axis).
  Each process thus builds only its share of a task batch; devices holding
  the same block share one piece."""
  blocks, per_device = {}, []
  for device, index in sharding_.addressable_devices_indices_map(
      shape).items():
    key = tuple(range(*s.indices(n)) for s, n in zip(index, shape))
    if key not in blocks:
      blocks[key] = jax.tree.map(np.asarray, piece(key))
    per_device.append((device, blocks[key]))
  first = per_device[0][1]

  def leaf(path_leaves):
    host0 = path_leaves[0]
    global_shape = tuple(shape) + host0.shape[len(shape):]
    return jax.make_array_from_single_device_arrays(
        global_shape, sharding_,
        [jax.device_put(x, d) for x, (d, _) in zip(path_leaves, per_device)])

  leaves = [jax.tree.leaves(tree) for _, tree in per_device]
  return jax.tree.unflatten(jax.tree.structure(first),
                            [leaf(list(col)) for col in zip(*leaves)])


def place(tree, sharding_: NamedSharding):
  """Every leaf laid out by sharding_ over the mesh's devices, each process
  filling only its own devices from its (identical) host copy."""
  return jax.tree.map(lambda x: _place_leaf(x, sharding_), tree)


def _place_leaf(x, sharding_: NamedSharding):
  if jax.dtypes.issubdtype(getattr(x, "dtype", np.float32),
                           jax.dtypes.prng_key):
    # Typed keys have no host form: move their raw data, then rewrap.
    data = np.asarray(jax.random.key_data(x))
    return jax.random.wrap_key_data(_place_leaf(data, sharding_),
                                    impl=jax.random.key_impl(x))
  host = np.asarray(x)
  return jax.make_array_from_callback(host.shape, sharding_,
                                      lambda idx: host[idx])


def replicate(tree, mesh: Mesh):
  return place(tree, replicated(mesh))


def shard_runs(tree, mesh: Mesh):
  """Run-axis trees (states, tables): each run on its "runs" devices."""
  return place(tree, run_sharded(mesh))


def gather(tree, mesh: Mesh):
  """The whole of a run-sharded tree on every device of every process (a
  collective: every process calls it), so any process can read any run."""
  return _gatherer(mesh)(tree)


@functools.lru_cache(maxsize=8)
def _gatherer(mesh: Mesh):
  # One jitted identity per mesh: a new lambda each call would retrace.
  return jax.jit(lambda t: t, out_shardings=replicated(mesh))
