"""The meta-step on 1 and 4 simulated devices gives the same loss and grads,
and bucketed batching gives the same predictions as a single bucket."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import jax, numpy as np
    from configs import melu as melu_config
    from metarec_jax import methods, sharding
    from metarec_jax.data import batching, pipeline
    from metarec_jax.meta import step as meta
    config = melu_config.get_config("ml100k,smoke")
    config.data.use_tfds = False
    config.inner_steps = 2
    prep = pipeline.prepare(config.data, 0)
    method = methods.build(config, prep)
    tables = jax.tree.map(np.asarray, prep.tables)
    tasks = prep.tasks["train"]
    batch = batching.pad_tasks(tasks, np.arange(7), 96, 8)  # 1 padding task
    params = method.init(jax.random.key(0), tables)
    hp = methods.hparams(config)
    mesh = sharding.task_mesh()
    batch = sharding.shard_batch(batch, mesh)
    params = sharding.replicate(params, mesh)
    fn = jax.jit(jax.value_and_grad(method.loss))
    loss, grads = fn(params, tables, batch, jax.random.key(1), hp)
    print(json.dumps({{"devices": len(jax.devices()), "loss": float(loss),
                      "grads": [np.asarray(g).ravel()[:50].tolist()
                                for g in jax.tree.leaves(grads)]}}))
""")


def _run(devices: int) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["JAX_PLATFORMS"] = "cpu"
  out = subprocess.run([sys.executable, "-c", _SCRIPT.format(root=ROOT)],
                       env=env, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_and_four_devices_agree():
  one, four = _run(1), _run(4)
  assert one["devices"] == 1 and four["devices"] == 4
  assert abs(one["loss"] - four["loss"]) < 1e-5
  for a, b in zip(one["grads"], four["grads"]):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_bucketed_and_unbucketed_predictions_agree(ml100k_prep):
  import jax
  from configs import melu as melu_config
  from metarec_jax import evaluate, methods
  from metarec_jax.meta import step as meta
  config = melu_config.get_config("ml100k,smoke")
  config.inner_steps = 2
  method = methods.build(config, ml100k_prep)
  tables = jax.tree.map(np.asarray, ml100k_prep.tables)
  params = method.init(jax.random.key(0), tables)
  predict = meta.make_predict(method)
  tasks = ml100k_prep.tasks["user_item_cold"]
  hp = methods.hparams(config)
  one = evaluate.predict_tasks(predict, params, tables, tasks, hp, 64, (96,))
  many = evaluate.predict_tasks(predict, params, tables, tasks, hp, 64,
                                (16, 32, 64, 96))
  np.testing.assert_allclose(one, many, atol=1e-5)
