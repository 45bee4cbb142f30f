"""MAMO (Dong et al., KDD 2020): memory-augmented meta-optimisation.

Two memories, read by attention on the user's profile embedding p_u:
  feature-specific memory: keys M_P [K, d_u] and a bias memory M_B (K copies
    of the decision parameters). a_u = softmax(cos(p_u, M_P) * temperature);
    the user's initialisation is theta - a_u^T M_B (the personalised bias
    initialisation that replaces MAML's single shared start).
  task-specific memory M_UI [K, d_in, h1]: the user's fast weights
    a_u^T M_UI, added to the first decision layer's kernel and held fixed in
    the inner loop (the preference layer's per-user part).
The decision layers then adapt on the support set as in MeLU.

Choices where the paper is open or would break pure functions: the paper
writes the memories with moving-average rules outside the gradient; here both
memories are parameters learned by the outer gradient (same read path, no
mutable state, so seeds vmap). M_B and M_UI start at zero, so an untrained
MAMO is exactly MeLU (a test checks this); K = 3 slots (the paper's default
memory size), temperature 5, embeddings are not adapted, and the inner
gradient is first or second order as configured.
"""

import dataclasses

import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner
from metarec_jax.models import embeddings


def attention(profile: jax.Array, keys: jax.Array, temperature: float):
  """profile [d], keys [K, d] -> weights [K] (softmax of cosine similarity)."""
  cos = keys @ profile / (jnp.linalg.norm(keys, axis=-1)
                          * jnp.linalg.norm(profile) + 1e-8)
  return jax.nn.softmax(cos * temperature)


@dataclasses.dataclass(frozen=True)
class MAMO:
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  inner_steps: int = 5
  first_order: bool = False
  slots: int = 3
  temperature: float = 5.0

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_model, k_keys = jax.random.split(key)
    params = self.model.init(k_model, tables)
    emb = self.model.embed_all(params, tables)
    fc1 = params["decision"]["fc1"]["kernel"]
    zeros_like_k = lambda x: jnp.zeros((self.slots,) + x.shape, x.dtype)
    params["memory"] = {
        "keys": 0.1 * jax.random.normal(k_keys,
                                        (self.slots, emb.users.shape[-1])),
        "bias": jax.tree.map(zeros_like_k, params["decision"]),
        "fast": zeros_like_k(fc1),
    }
    return params

  def personalise(self, params: Params, user_vec: jax.Array) -> dict:
    """The user's initial decision params (bias and fast weights applied)."""
    mem = params["memory"]
    a = attention(user_vec, mem["keys"], self.temperature)
    read = lambda m: jnp.tensordot(a, m, axes=1)
    dec = jax.tree.map(lambda w, b: w - read(b), params["decision"],
                       mem["bias"])
    fast = read(mem["fast"])
    return dec, fast

  def decide(self, dec: dict, fast: jax.Array, x: jax.Array) -> jax.Array:
    fc1 = {**dec["fc1"], "kernel": dec["fc1"]["kernel"] + fast}
    return self.model.decide({"decision": {**dec, "fc1": fc1}}, x)

  def adapt_task(self, params, emb, support: Support, hparams,
                 first_order: bool, drop=None) -> dict:
    """One task: the user's personalised start, adapted on the support."""
    x_s = embeddings.task_inputs(emb, support.user, support.items, drop)
    dec, fast = self.personalise(params, emb.users[support.user])
    lr = inner.task_rate(hparams["inner_lr"], support.mask, hparams)

    def support_loss(d):
      return inner.masked_mse(self.decide(d, fast, x_s), support.ratings,
                              support.mask)

    dec, _ = inner.adapt(support_loss, dec, lr, self.inner_steps,
                         first_order)
    return {"decision": dec, "fast": fast}

  def predict_task(self, emb, state: dict, query: Query, drop=None):
    x_q = embeddings.task_inputs(emb, query.user, query.items, drop)
    return self.decide(state["decision"], state["fast"], x_q)

  def adapt(self, params, tables, support: Support, hparams):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda s: self.adapt_task(params, emb, s, hparams,
                                              True))(support)

  def predict(self, params, tables, adapted, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda a, q: self.predict_task(emb, a, q))(adapted,
                                                                query)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    emb = self.model.embed_all(params, tables)
    r_s, r_q = jax.random.split(rng)
    drop_s = self.model.drop_ids(r_s, batch.support_items.shape)
    drop_q = self.model.drop_ids(r_q, batch.query_items.shape)

    def task_loss(task: TaskBatch, d_s, d_q):
      state = self.adapt_task(params, emb, task.support, hparams,
                              self.first_order, d_s)
      pred = self.predict_task(emb, state, task.query, d_q)
      return inner.masked_mse(pred, task.query_ratings, task.query_mask)

    if drop_s is None:
      losses = jax.vmap(lambda t: task_loss(t, None, None))(batch)
    else:
      losses = jax.vmap(task_loss)(batch, drop_s, drop_q)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> MAMO:
  return MAMO(model, config.inner_steps, config.first_order,
              config.model.memory_slots)
