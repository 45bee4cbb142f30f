"""The engine's step on 1 device, 4 simulated devices on the task axis and
2 runs x 2 tasks gives the same loss and parameters, value for value, and bucketed batching gives the same
predictions as a single bucket."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from metarec_jax.evaluation import predict

# One engine step of two vmapped runs on the batch split over a mesh of 1 and
# of 4 devices (in one process of 4 simulated devices); prints the loss and
# every value of the updated parameters for each.
_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from metarec_jax.core import compile_cache
    from metarec_jax.data import batching, pipeline
    from metarec_jax.meta import base, registry
    from metarec_jax.train import engine, sharding, step
    from tiny_run import tiny_config, write_dataset
    compile_cache.enable()  # The test session's cache (conftest.py).
    config = tiny_config(write_dataset({data!r}))
    config.method, config.inner_steps = "melu_fo", 1
    prep = pipeline.prepare(config.data, 0)
    method = registry.build(config, prep)
    tables = jax.tree.map(np.asarray, prep.tables)
    init = jax.device_get(engine.stack([
        step.init_state(method, tables, s, 1e-2, 0.0, 10.0) for s in (0, 1)]))
    tasks = prep.tasks["train"]
    one = batching.pad_tasks(tasks, np.arange(7), 32, 8)  # 1 padding task
    two = batching.pad_tasks(tasks, np.arange(7, 14), 32, 8)
    hp = engine.stack([base.hparams(config)] * 2)
    out = {{"devices": len(jax.devices())}}
    # 1 device; 4 on the task axis (state replicated); 2 runs x 2 tasks
    # (state split with the runs, as the engine places a group).
    for name, mesh, place in (
        ("1", sharding.task_mesh(1), sharding.replicate),
        ("4", sharding.task_mesh(4), sharding.replicate),
        ("2x2", sharding.run_task_mesh(2, 4), sharding.shard_runs)):
      batch = sharding.shard_batch(engine.stack([one, two]), mesh,
                                   task_axis=1)
      fresh = jax.tree.map(jax.numpy.copy, init)  # The step donates it.
      states, run_tables = place((fresh, engine.stack([tables, tables])),
                                 mesh)
      states, m = step.make_step(method, 10.0)(states, run_tables, batch, hp)
      params = jax.device_get(sharding.gather(states.params, mesh))
      out[name] = {{"loss": np.asarray(m["loss"]).tolist(),
                   "shards": len(batch.user.sharding.device_set),
                   "mesh": dict(mesh.shape),
                   "params": [np.asarray(x).ravel().tolist()
                              for x in jax.tree.leaves(params)]}}
    # Each process's share of a batch, built alone (engine.Group's
    # device_batches with local=True, as with several processes), against
    # the whole batch built and placed: same values, same layout.
    import types
    from metarec_jax.data import schedule
    # Two buckets: at a step the two runs' batches may differ in support
    # width, and every block must take the whole batch's.
    sched = [schedule.Schedule(tasks, 8, (8, 32), s) for s in (0, 1)]
    widths = [[sc.support_size(t) for sc in sched] for t in range(8)]
    out["run_widths_differ"] = any(len(set(w)) > 1 for w in widths)
    for name, mesh in (("4", sharding.task_mesh(4)),
                       ("2x2", sharding.run_task_mesh(2, 4))):
      g = types.SimpleNamespace(runs=[0, 1], schedules=sched, mesh=mesh,
                                config=types.SimpleNamespace(batch_size=8))
      g.batch = lambda at, g=g: engine.Group.batch(g, at)
      g.place = lambda b, task_axis=1, g=g: engine.Group.place(g, b,
                                                               task_axis)
      same = []
      for at, n in [(t, 1) for t in range(8)] + [(5, 3)]:
        whole = engine.Group.device_batches(g, at, n, local=False)
        local = engine.Group.device_batches(g, at, n, local=True)
        for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(local)):
          same.append(a.shape == b.shape and a.sharding == b.sharding
                      and np.array_equal(np.asarray(a), np.asarray(b)))
        same.append(float(np.asarray(whole.task_mask).sum()) > 0)
      out[name]["local_batches_equal"] = all(same)
    print(json.dumps(out))
""")


def _run(tmp_path) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
  env["JAX_PLATFORMS"] = "cpu"
  script = _SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)),
                          data=str(tmp_path / "data"))
  out = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_four_and_two_by_two_devices_agree(tmp_path):
  out = _run(tmp_path)
  one = out["1"]
  assert out["devices"] == 4 and one["shards"] == 1
  assert out["2x2"]["mesh"] == {"runs": 2, "tasks": 2}
  assert out["run_widths_differ"]  # The local build's hard case occurs.
  for other in (out["4"], out["2x2"]):
    assert other["shards"] == 4
    assert other["local_batches_equal"]
    np.testing.assert_allclose(one["loss"], other["loss"], rtol=1e-5)
    assert len(one["params"]) == len(other["params"])
    for a, b in zip(one["params"], other["params"]):
      assert len(a) == len(b)
      np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_bucketed_and_unbucketed_predictions_agree(ml100k_prep):
  import jax  # pylint: disable=g-import-not-at-top
  from configs import melu as melu_config  # pylint: disable=g-import-not-at-top
  from metarec_jax.meta import base, registry  # pylint: disable=g-import-not-at-top
  config = melu_config.get_config("ml100k,smoke")
  config.inner_steps = 2
  method = registry.build(config, ml100k_prep)
  tables = jax.tree.map(np.asarray, ml100k_prep.tables)
  params = method.init(jax.random.key(0), tables)
  tasks = ml100k_prep.test_tasks("user_item_cold")
  hp = base.hparams(config)
  one = predict.predict_tasks(method, params, tables, tasks, hp, 64, (96,))
  many = predict.predict_tasks(method, params, tables, tasks, hp, 64,
                               (16, 32, 64, 96))
  np.testing.assert_allclose(one, many, atol=1e-5)
