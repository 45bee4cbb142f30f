"""compute_dtype=bfloat16 works for every registered method
(meta/mixed_precision.py): the same
predictions, loss and meta-gradient as float32 within bfloat16's precision,
float32 master weights and outputs, and the matmuls really in bfloat16."""

import collections

import jax
import numpy as np
import pytest

from metarec_jax.meta import base, registry
from method_checks import toy_batch
from test_conformance import NAMES, table_setup


# Methods whose adaptation solves a ridge system (meta/ridge_head.py).
CLOSED_FORM_HEADS = ("ridge", "ridge_text", "content", "mf_foldin",
                     "mf_meta")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  config, prep = table_setup(str(tmp_path_factory.mktemp("data")))
  return config, prep, jax.tree.map(np.asarray, prep.tables), toy_batch(prep)


def _dot_dtypes(jaxpr, counts):
  """Counts the operand dtype of every dot_general in jaxpr and in the
  jaxprs nested in it (scan, cond, custom_vjp, pjit bodies)."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      counts[str(eqn.invars[0].aval.dtype)] += 1
    for value in eqn.params.values():
      for sub in value if isinstance(value, (list, tuple)) else (value,):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          _dot_dtypes(inner, counts)
  return counts


def _run(name, dtype, config, prep, tables, batch):
  c = config.copy_and_resolve_references()
  c.method, c.compute_dtype = name, dtype
  method = registry.build(c, prep)
  params = method.init(jax.random.PRNGKey(0), tables)
  hp = base.hparams(c)

  def loss(p):
    return method.meta_loss(p, tables, batch, jax.random.PRNGKey(1), hp)[0]

  def predict(p):
    return base.adapted_predictions(method, p, tables, batch, hp)

  # One program for all three: compiling is most of this test's time.
  pred, (value, grads) = jax.jit(lambda p: (
      predict(p), jax.value_and_grad(loss)(p)))(params)
  return {"pred": pred, "loss": value, "grads": grads,
          "predict_dots": _dot_dtypes(jax.make_jaxpr(predict)(params).jaxpr,
                                      collections.Counter()),
          "loss_dots": _dot_dtypes(jax.make_jaxpr(loss)(params).jaxpr,
                                   collections.Counter())}


# Left out, as their bfloat16 programs are others' here: fomaml and melu_fo
# are maml and melu with a stop_gradient on the inner gradients (the
# second-order programs hold every bfloat16 op of theirs and more), and the
# ensemble vmaps its member (melu_fo) and averages float32 outputs. They
# still pass every conformance check (test_conformance.py).
SAME_PROGRAM_AS_ANOTHER = ("fomaml", "melu_fo", "ensemble")


@pytest.mark.parametrize(
    "name", [n for n in NAMES if n not in SAME_PROGRAM_AS_ANOTHER])
def test_bfloat16_matches_float32(name, setup):
  config, prep, tables, batch = setup
  f32 = _run(name, "float32", config, prep, tables, batch)
  bf16 = _run(name, "bfloat16", config, prep, tables, batch)
  # Outputs and the gradient the float32 optimiser reads stay float32.
  assert bf16["pred"].dtype == np.float32 and bf16["loss"].dtype == np.float32
  assert {g.dtype for g in jax.tree.leaves(bf16["grads"])} == {
      np.dtype(np.float32)}
  # bfloat16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%): residual
  # predictions of O(0.1-1) agree to a few thousandths of a rating.
  mask = np.asarray(batch.query_mask) > 0
  diff = np.abs(np.asarray(bf16["pred"]) - np.asarray(f32["pred"]))[mask]
  assert diff.max() < 0.01, (name, diff.max())
  np.testing.assert_allclose(bf16["loss"], f32["loss"], rtol=5e-3)
  flat = [np.concatenate([np.ravel(g) for g in jax.tree.leaves(r["grads"])])
          for r in (f32, bf16)]
  cosine = flat[0] @ flat[1] / (np.linalg.norm(flat[0])
                                * np.linalg.norm(flat[1]))
  assert cosine > 0.99, (name, cosine)
  # Really computed in bfloat16, where float32 has no bfloat16 matmul:
  # every matmul of the prediction path but the closed-form heads' systems
  # (formed and solved in float32: meta/ridge_head.py), and some of the
  # meta-loss (TaNP's training posterior also encodes the float32 query
  # ratings).
  dots = bf16["predict_dots"]
  if name in CLOSED_FORM_HEADS:
    assert dots["bfloat16"] > 0, dots
  else:
    assert set(dots) == {"bfloat16"}, dots
  assert bf16["loss_dots"]["bfloat16"] > 0, bf16["loss_dots"]
  assert "bfloat16" not in f32["loss_dots"], f32["loss_dots"]
