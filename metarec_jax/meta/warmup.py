"""What the id warm-up methods share (metaemb.py, mwuf.py).

The MeLU model gives the rated entities id vectors (emb.ids) but the task
entity (batch.user: the user of a user task, the new item of an item task)
none. These methods give it one, e [k] with k = embed_dim, appended to every
input row of the decision MLP: x [n, d] -> [n, d + k]. They differ in
where e starts (`start`); then both warm it up with `inner_steps` SGD steps
of the support loss on e alone, the rest of the model fixed: the papers'
warm-up phase, in which a new id's embedding is trained on its first
ratings.

Trained as evaluated: the meta-loss runs exactly the warm-up that adapt
runs (same steps, same rate, same support) and scores the query with the
warmed e, differentiated through the steps; `cold_weight` adds the support
loss at the start (metaemb's cold-start loss). Second order by default
(config.first_order = False): the steps move only the k numbers of e, so
their Hessian terms are cheap, and they carry the exact gradient into the
start and into the rate.

The rate is meta-learned, per dimension of e:
  rate = inner.task_rate(inner_lr * exp(RATE_GAIN * params["log_rate"]))
with log_rate [k] starting at 0, so training starts at the config's
inner_lr (still a traced hyperparameter a sweep may vmap) and the outer
optimizer moves it on training tasks only; exp keeps it positive. Adam
moves every parameter by about outer_lr per step whatever its gradient's
scale, so without the gain a log rate could change by only a few percent
in a table's few hundred steps; with it, log(rate) moves by up to about
RATE_GAIN * outer_lr per step, near the relative speed of Meta-SGD's raw
rates (meta/metasgd.py).
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner
from metarec_jax.models import embeddings

RATE_GAIN = 10.0  # d log(rate) / d params["log_rate"]; see the docstring.


def with_id(x: jax.Array, e: jax.Array) -> jax.Array:
  """x [n, d], e [k] -> [n, d + k]: the task entity's id on every row."""
  return jnp.concatenate(
      [x, jnp.broadcast_to(e, x.shape[:1] + e.shape)], -1)


@dataclasses.dataclass(frozen=True)
class IdWarmUp:
  """The shared half of a method; subclasses define init and start.

  Attributes:
    model: MeLUModel (or a text variant): embeddings + decision MLP, whose
      decision MLP here reads [x, e].
    inner_steps: warm-up steps on e, in training and evaluation alike.
    first_order: stop the meta-gradient through the warm-up's gradients.
  """
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  inner_steps: int = 5
  first_order: bool = False

  @property
  def id_dim(self) -> int:
    return self.model.embed_dim

  @property
  def cold_weight(self) -> float:
    """The weight of the support loss at the start in the meta-loss; the
    query loss after the warm-up gets 1 - cold_weight."""
    return 0.0

  def init_shared(self, key: PRNGKey, tables: dict
                  ) -> tuple[Params, embeddings.Embedded]:
    """The model's params with a decision MLP of input width d + k and the
    warm-up's log rate [k], and the embedded tables (to size the
    subclass's networks)."""
    k_model, k_dec = jax.random.split(key)
    params = dict(self.model.init(k_model, tables))
    emb = self.model.embed_all(params, tables)
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.zeros((2,), jnp.int32))
    params["decision"] = self.model.decision.init(
        k_dec, with_id(x, jnp.zeros((self.id_dim,))))["params"]
    params["log_rate"] = jnp.zeros((self.id_dim,))
    return params, emb

  def start(self, params: Params, emb: embeddings.Embedded,
            support: Support, x_s: jax.Array) -> jax.Array:
    """One task (unbatched support, its inputs x_s [S, d]) -> e [k]."""
    raise NotImplementedError

  def decide(self, params: Params, x: jax.Array, e: jax.Array) -> jax.Array:
    """[n] predictions for inputs x [n, d] and the id vector e [k]."""
    return self.model.decide(params, with_id(x, e))

  def rate(self, params: Params, support: Support, hparams) -> jax.Array:
    """One task's warm-up rate per dimension of e [k]."""
    lr = hparams["inner_lr"] * jnp.exp(RATE_GAIN * params["log_rate"])
    return inner.task_rate(lr, support.mask, hparams)

  def warm_up(self, params, x_s, support: Support, e, hparams,
              first_order: bool) -> jax.Array:
    """inner_steps SGD steps of the support loss on e only -> e [k]."""
    loss = lambda v: inner.masked_mse(self.decide(params, x_s, v),
                                      support.ratings, support.mask)
    return inner.adapt(loss, e, self.rate(params, support, hparams),
                       self.inner_steps, first_order)[0]

  def adapt(self, params, tables, support: Support, hparams) -> jax.Array:
    """-> e [T, k], each task's warmed-up id vector."""
    emb = self.model.embed_all(params, tables)

    def one(s: Support):
      x_s = embeddings.task_inputs(emb, s.user, s.items)
      e = self.start(params, emb, s, x_s)
      # No outer gradient here: first order computes the same e.
      return self.warm_up(params, x_s, s, e, hparams, True)

    return jax.vmap(one)(support)

  def predict(self, params, tables, adapted: jax.Array, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda e, q: self.decide(
        params, embeddings.task_inputs(emb, q.user, q.items), e))(adapted,
                                                                   query)

  def task_losses(self, params, emb, task: TaskBatch, hparams, d_s, d_q):
    """One task -> (support MSE at the start, query MSE after the warm-up),
    the rated entities' ids dropped where d_s [S], d_q [Q] say."""
    x_s = embeddings.task_inputs(emb, task.user, task.support_items, d_s)
    x_q = embeddings.task_inputs(emb, task.user, task.query_items, d_q)
    e0 = self.start(params, emb, task.support, x_s)
    cold = inner.masked_mse(self.decide(params, x_s, e0),
                            task.support_ratings, task.support_mask)
    e = self.warm_up(params, x_s, task.support, e0, hparams,
                     self.first_order)
    warm = inner.masked_mse(self.decide(params, x_q, e), task.query_ratings,
                            task.query_mask)
    return cold, warm

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """cold_weight * a + (1 - cold_weight) * b over the real tasks, a the
    support loss at the start, b the query loss after the warm-up (the
    evaluation's); logs both."""
    emb = self.model.embed_all(params, tables)
    r_s, r_q = jax.random.split(rng)
    drop_s = self.model.drop_ids(r_s, batch.support_items.shape)
    drop_q = self.model.drop_ids(r_q, batch.query_items.shape)
    cold, warm = jax.vmap(lambda task, d_s, d_q: self.task_losses(
        params, emb, task, hparams, d_s, d_q))(batch, drop_s, drop_q)
    a = base.task_mean(cold, batch.task_mask)
    b = base.task_mean(warm, batch.task_mask)
    w = self.cold_weight
    return w * a + (1.0 - w) * b, {"cold_loss": a, "warm_loss": b}
