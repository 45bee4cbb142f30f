"""The checks every registered method passes (test_conformance.py), in the
spirit of learned_optimization's smoketest_task: one shared function, one
line per method. Not a test module.

On a tiny real dataset (tiny_run.py), for a method built by the registry:
  - init and adapt-then-predict give finite predictions for a user's
    support, scored on every item: the batch serving builds;
  - predictions ignore the query ratings (NaN there changes nothing) and
    follow the support ratings;
  - a padding task's ratings do not change the meta-loss;
  - the meta-loss and its gradient are the same on the batch's own table
    rows (train/batch_rows.py, the meta-step of large catalogues);
  - the meta-gradient of a training batch matches central finite
    differences of meta_loss in float64 along random directions
    (first-order methods: at inner_lr 0, where their gradient is the exact
    one; TaNP: without its cluster term, whose DEC target is held fixed);
  - a gradient step on it keeps the params finite and moves them;
  - a checkpoint round trip gives the same predictions;
  - it serves: a Recommender on the restored params ranks k unrated items.
Each check reuses one compiled prediction and one compiled meta-gradient:
compiling is most of a check's time on a CPU.
"""

import jax
import jax.numpy as jnp
import numpy as np

from metarec_jax.data import batching
from metarec_jax.evaluation import predict
from metarec_jax.meta import base, registry
from metarec_jax.serving import recommender
from metarec_jax.train import batch_rows, checkpoints

BATCH = 4
# Exact except by design: first-order methods stop gradients through the
# inner loop (checked at inner_lr 0); TaNP holds its DEC target fixed
# (checked with cluster_weight 0); mf_meta holds its cold rows fixed (their
# gradient must be exactly 0; the others are checked along directions
# that leave them alone).
FIRST_ORDER = ("melu_fo", "fomaml")
FIXED = {"mf_meta": ("cold_bias", "cold_factors")}


def toy_batch(prep, size: int = 32):
  tasks = prep.tasks["train"]
  idx = np.flatnonzero(tasks.support_sizes <= size)[:BATCH - 1]
  return batching.pad_tasks(tasks, idx, size, BATCH)  # One padding task.


def _to64(tree):
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                      if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                      else jnp.asarray(x), tree)


def _direction(params, seed: int, fixed=()):
  """A random unit direction in parameter space, float64, 0 on the
  top-level leaves `fixed` (drawn by numpy: compiling a random draw for
  every leaf shape costs seconds)."""
  rng = np.random.default_rng(seed)
  leaves, tree = jax.tree_util.tree_flatten_with_path(params)
  v = [rng.normal(size=x.shape) for _, x in leaves]
  v = [0.0 * x if getattr(path[0], "key", None) in fixed else x
       for (path, _), x in zip(leaves, v)]
  norm = np.sqrt(sum(np.sum(x ** 2) for x in v))
  return jax.tree.unflatten(tree, [x / norm for x in v])


@jax.jit
def _shift(params, v, step):
  return jax.tree.map(lambda a, u: a + step * u, params, v)


@jax.jit
def _dot(a, b):
  return sum(jnp.sum(x * y) for x, y in zip(jax.tree.leaves(a),
                                            jax.tree.leaves(b)))


def meta_gradient_check(method, params, tables, batch, hparams,
                        directions: int = 3, eps: float = 1e-6, fixed=()):
  """(relative errors of the directional derivatives against central
  finite differences, loss, gradient), all in float64; the top-level
  leaves `fixed` must get a zero gradient and are left out of the
  directions."""
  with jax.enable_x64(True):
    p, t, b, h = _to64((params, tables, batch, hparams))
    rng = jax.random.key(7)
    fn = jax.jit(jax.value_and_grad(
        lambda q, x: method.meta_loss(q, t, x, rng, h)[0]))
    loss, grad = fn(p, b)
    errors = []
    for k in fixed:
      assert all(np.all(np.asarray(g) == 0)
                 for g in jax.tree.leaves(grad[k])), k
    for d in range(directions):
      v = _direction(p, 100 + d, fixed)
      fd = (fn(_shift(p, v, eps), b)[0] - fn(_shift(p, v, -eps), b)[0]) / (
          2 * eps)
      an = _dot(grad, v)
      errors.append(float(jnp.abs(fd - an) / jnp.maximum(jnp.abs(fd), 1e-6)))
    # The batch's last task is padding: its ratings must not count.
    padded = b.replace(query_ratings=b.query_ratings.at[-1].add(3.0),
                       support_ratings=b.support_ratings.at[-1].add(3.0))
    assert float(b.task_mask[-1]) == 0.0
    np.testing.assert_allclose(float(fn(p, padded)[0]), float(loss),
                               rtol=1e-12)
    # On the batch's own table rows (config.batch_rows, for methods that
    # declare base.rows_from_tables): the same loss and gradient, up to the
    # order of float sums.
    if not base.rows_from_tables(method):
      return errors, float(loss), jax.tree.map(np.asarray, grad)
    rt, rb = batch_rows.restrict(t, b)
    assert jax.tree.leaves(rt["item"])[0].shape[0] == (
        b.support_items.size + b.query_items.size)
    r_loss, r_grad = jax.jit(jax.value_and_grad(
        lambda q, x: method.meta_loss(q, rt, x, rng, h)[0]))(p, rb)
    np.testing.assert_allclose(float(r_loss), float(loss), rtol=1e-10)
    for a, c in zip(jax.tree.leaves(r_grad), jax.tree.leaves(grad)):
      np.testing.assert_allclose(a, c, rtol=1e-8, atol=1e-12)
    return errors, float(loss), jax.tree.map(np.asarray, grad)


@jax.jit
def _sgd_step(params, grad):
  return jax.tree.map(lambda p, g: p - 1e-2 * g.astype(p.dtype), params,
                      grad)


def _gradient_checked(name, config, prep):
  """The method and hparams whose gradient is exact (see the docstring)."""
  hparams = base.hparams(config)
  base_name = (config.ensemble_method if name == registry.ENSEMBLE
               else registry.parse(name)[0])
  if base_name in FIRST_ORDER:
    hparams["inner_lr"] = np.float32(0.0)
  if name == "tanp":
    config = config.copy_and_resolve_references()
    config.cluster_weight = 0.0
  return registry.build(config, prep), hparams


def check_method(name: str, config, prep, tmp_path) -> None:
  """Every check above, for config.method = name on prep."""
  config.method = name
  method = registry.build(config, prep)
  tables = jax.tree.map(np.asarray, prep.tables)
  hparams = base.hparams(config)
  # On the host, as restored checkpoints are: one compiled prediction.
  params = jax.device_get(jax.jit(method.init)(jax.random.key(0), tables))
  rec = recommender.Recommender(config, prep, method, params)
  train = toy_batch(prep)
  n = int(train.support_mask[0].sum())
  support = [(int(prep.items.ids[i]), float(r)) for i, r in zip(
      train.support_items[0, :n], train.support_ratings[0, :n])]
  items = [i for i, _ in support]
  batch = rec.serving_batch([(rec.item_index(items), np.array(
      [r for _, r in support], np.float32))])
  pred = predict.predict_batch(method, params, rec.tables, batch, hparams)
  assert pred.shape == batch.query_items.shape and np.isfinite(pred).all()

  # Query ratings never reach a prediction; support ratings do.
  blind = batch.replace(query_ratings=np.full_like(batch.query_ratings,
                                                   np.nan))
  np.testing.assert_array_equal(
      predict.predict_batch(method, params, rec.tables, blind, hparams), pred)
  flipped = batch.replace(support_ratings=(6.0 - batch.support_ratings)
                          * batch.support_mask)
  moved = predict.predict_batch(method, params, rec.tables, flipped, hparams)
  assert np.abs(moved - pred).max() > 1e-4

  # The meta-gradient against finite differences, then one step on it.
  fd_method, fd_hparams = _gradient_checked(name, config, prep)
  errors, loss, grad = meta_gradient_check(
      fd_method, params, tables, train, fd_hparams,
      fixed=() if name == registry.ENSEMBLE else FIXED.get(
          registry.parse(name)[0], ()))
  assert max(errors) < 1e-3 and np.isfinite(loss), (errors, loss)
  stepped = _sgd_step(params, grad)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(stepped))
  assert any(np.abs(a - b).max() > 0 for a, b in zip(
      jax.tree.leaves(stepped), jax.tree.leaves(params)))

  # Checkpoint round trip, then serving on the restored params.
  run_dir = str(tmp_path / name)
  checkpoints.save_params(run_dir, params)
  restored = jax.device_get(checkpoints.restore_params(
      run_dir, jax.eval_shape(method.init, jax.random.key(1), tables)))
  np.testing.assert_array_equal(
      predict.predict_batch(method, restored, rec.tables, batch, hparams),
      pred)
  served = recommender.Recommender(config, prep, method, restored)
  state = served.adapt(support)
  np.testing.assert_array_equal(state.scores, pred[0])
  top = served.top_k(state, 5)
  assert len(top) == 5 and not set(items) & {i for i, *_ in top}
