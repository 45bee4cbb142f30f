"""What the id warm-up methods share (metaemb.py, mwuf.py).

The MeLU model gives the rated entities id vectors (emb.ids) but the task
entity (batch.user: the user of a user task, the new item of an item task)
none. These methods give it one, e [k] with k = embed_dim, appended to every
input row of the decision MLP: x [n, d] -> [n, d + k]. They differ in
where e starts (`start`); at test time both warm it up with `inner_steps`
SGD steps of the support loss on e alone, at inner.task_rate(inner_lr): the
papers' warm-up phase, in which a new id's embedding is trained on its
first ratings while the rest of the model stays fixed.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import inner
from metarec_jax.models import embeddings


def with_id(x: jax.Array, e: jax.Array) -> jax.Array:
  """x [n, d], e [k] -> [n, d + k]: the task entity's id on every row."""
  return jnp.concatenate(
      [x, jnp.broadcast_to(e, x.shape[:1] + e.shape)], -1)


@dataclasses.dataclass(frozen=True)
class IdWarmUp:
  """The shared half of a method; subclasses define init, start, meta_loss.

  Attributes:
    model: MeLUModel (or a text variant): embeddings + decision MLP, whose
      decision MLP here reads [x, e].
    inner_steps: test-time warm-up steps on e.
  """
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  inner_steps: int = 5

  @property
  def id_dim(self) -> int:
    return self.model.embed_dim

  def init_shared(self, key: PRNGKey, tables: dict
                  ) -> tuple[Params, embeddings.Embedded]:
    """The model's params with a decision MLP of input width d + k, and the
    embedded tables (to size the subclass's networks)."""
    k_model, k_dec = jax.random.split(key)
    params = dict(self.model.init(k_model, tables))
    emb = self.model.embed_all(params, tables)
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.zeros((2,), jnp.int32))
    params["decision"] = self.model.decision.init(
        k_dec, with_id(x, jnp.zeros((self.id_dim,))))["params"]
    return params, emb

  def start(self, params: Params, emb: embeddings.Embedded,
            support: Support, x_s: jax.Array) -> jax.Array:
    """One task (unbatched support, its inputs x_s [S, d]) -> e [k]."""
    raise NotImplementedError

  def decide(self, params: Params, x: jax.Array, e: jax.Array) -> jax.Array:
    """[n] predictions for inputs x [n, d] and the id vector e [k]."""
    return self.model.decide(params, with_id(x, e))

  def warm_up(self, params, x_s, support: Support, e, hparams, steps: int,
              first_order: bool = True) -> tuple[jax.Array, jax.Array]:
    """`steps` SGD steps of the support loss on e only -> (e, [steps]
    support losses before each step)."""
    lr = inner.task_rate(hparams["inner_lr"], support.mask, hparams)
    loss = lambda v: inner.masked_mse(self.decide(params, x_s, v),
                                      support.ratings, support.mask)
    return inner.adapt(loss, e, lr, steps, first_order)

  def adapt(self, params, tables, support: Support, hparams) -> jax.Array:
    """-> e [T, k], each task's warmed-up id vector."""
    emb = self.model.embed_all(params, tables)

    def one(s: Support):
      x_s = embeddings.task_inputs(emb, s.user, s.items)
      e = self.start(params, emb, s, x_s)
      return self.warm_up(params, x_s, s, e, hparams, self.inner_steps)[0]

    return jax.vmap(one)(support)

  def predict(self, params, tables, adapted: jax.Array, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda e, q: self.decide(
        params, embeddings.task_inputs(emb, q.user, q.items), e))(adapted,
                                                                   query)

  def id_drops(self, rng: PRNGKey, batch: TaskBatch):
    """The model's rated-entity id dropout for meta-training: (support
    [T, S], query [T, Q]) bools, or (None, None)."""
    r_s, r_q = jax.random.split(rng)
    return (self.model.drop_ids(r_s, batch.support_items.shape),
            self.model.drop_ids(r_q, batch.query_items.shape))
