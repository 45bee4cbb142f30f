"""The closed-form inner loop: a per-task Bayesian linear (ridge) head.

A task's support ratings y [S] (mask M [S], 0 for padding) on item features
Phi [S, d] are modelled as y ~ N(Phi w, 1), w ~ N(w0, Lambda^-1) with a
diagonal prior precision Lambda. The posterior mean

  w = (Phi^T M Phi + Lambda)^{-1} (Phi^T M y + Lambda w0)
    = w0 + (Phi^T M Phi + Lambda)^{-1} Phi^T M (y - Phi w0)

is the exact inner loop of R2D2 (Bertinetto et al., ICLR 2019) and MetaOptNet
(Lee et al., CVPR 2019): differentiable, so the outer loop learns Phi, w0 and
Lambda through it. `posterior_mean` solves the d x d system (primal);
`dual_coefficients` the S x S one (kernel form, Woodbury), for features too
wide to materialise, such as a multi-hot over thousands of actors: with
K = Phi Lambda^{-1} Phi^T, the predictions are Phi_q w0 + K_qS alpha.
Padded rows have M = 0 and change nothing in either form.
"""

import jax
import jax.numpy as jnp


def _cholesky_solve(a: jax.Array, b: jax.Array) -> jax.Array:
  factor = jax.scipy.linalg.cho_factor(a, lower=True)
  return jax.scipy.linalg.cho_solve(factor, b)


def _at_least_float32(*arrays):
  """The arrays in float32 or wider, and the dtype to return in. A system
  formed in bfloat16 (meta/mixed_precision.py) loses its small diagonal
  precisions against O(10-100) Gram entries and may then be singular;
  XLA's CPU Cholesky has no bfloat16 kernel either. So the head forms and
  solves its system in float32 and returns in the caller's dtype."""
  out = jnp.result_type(*arrays)
  dtype = jnp.promote_types(out, jnp.float32)
  return [jnp.asarray(a).astype(dtype) for a in arrays], out


def posterior_mean(phi: jax.Array, y: jax.Array, mask: jax.Array,
                   precision: jax.Array, prior_mean: jax.Array) -> jax.Array:
  """One task: w [d] from phi [S, d], y [S], mask [S], precision [d] (or a
  scalar; positive), prior_mean [d]."""
  (phi, y, mask, precision, prior_mean), out = _at_least_float32(
      phi, y, mask, precision, prior_mean)
  precision = jnp.broadcast_to(precision, prior_mean.shape)
  masked = phi * mask[:, None]
  gram = masked.T @ phi + jnp.diag(precision)
  delta = _cholesky_solve(gram, masked.T @ (y - phi @ prior_mean))
  return (prior_mean + delta).astype(out)


def posterior_means(phi: jax.Array, y: jax.Array, mask: jax.Array,
                    precisions: jax.Array, prior_means: jax.Array
                    ) -> jax.Array:
  """One task, k heads on the same support: w [k, d] from precisions [k]
  (scalars) or [k, d] and prior_means [k, d]; each row as posterior_mean
  gives it.
  The k systems are solved in one batched Cholesky call, not k calls in one
  program: XLA's CPU runtime may run independent LAPACK calls at once, and
  two such calls hung a catalogue evaluation (every thread idle)."""
  (phi, y, mask, precisions, prior_means), out = _at_least_float32(
      phi, y, mask, precisions, prior_means)
  masked = phi * mask[:, None]
  gram = masked.T @ phi
  eye = jnp.eye(gram.shape[0], dtype=gram.dtype)
  if precisions.ndim == 1:
    grams = gram[None] + precisions[:, None, None] * eye[None]
  else:
    grams = gram[None] + jax.vmap(jnp.diag)(precisions)
  rhs = jax.vmap(lambda w0: masked.T @ (y - phi @ w0))(prior_means)
  delta = _cholesky_solve(grams, rhs[..., None])[..., 0]
  return (prior_means + delta).astype(out)


def dual_coefficients(kernel: jax.Array, residual: jax.Array,
                      mask: jax.Array) -> jax.Array:
  """One task: alpha [S] = (M K M + I)^{-1} M r from kernel K [S, S] =
  Phi Lambda^{-1} Phi^T and r = y - Phi w0 [S]; alpha is 0 on padding."""
  (kernel, residual, mask), out = _at_least_float32(kernel, residual, mask)
  masked = kernel * mask[:, None] * mask[None, :]
  return _cholesky_solve(masked + jnp.eye(mask.shape[0], dtype=kernel.dtype),
                         mask * residual).astype(out)
