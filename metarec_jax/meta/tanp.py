"""TaNP (Lin et al., WWW 2021): a task-adaptive neural process.

No inner gradient steps: the support set is encoded into a task
representation in one forward pass.
  encoder: r_i = MLP([x_i, y_i]) per support rating, r = masked mean,
    z ~ N(mu(r), sigma(r)) (the latent path of a neural process).
  task-cluster memory: K cluster centres C; soft assignment
    q_k ∝ (1 + |z - C_k|^2)^-1 (Student's t, as the paper), read m = q C;
    task representation o = [z, m].
  decoder: an MLP on the item/user features whose hidden layers are
    FiLM-modulated by o: h <- relu((1 + gamma(o)) * W h + beta(o)).
Loss (meta-training): query MSE with z from the posterior (support + query)
+ kl_weight * KL(posterior || prior from the support only) + cluster_weight *
KL(P || q) with P the sharpened target q^2 / f, normalised (DEC, as the
paper). Prediction uses the prior mean (support only).

Choices where the paper is open: sigma = 0.1 + 0.9 softplus (the usual NP
parameterisation), K = 8 clusters, z of size 32, FiLM as 1 + gamma so an
untrained decoder starts as a plain MLP, feature embeddings shared with MeLU
and learned by the same outer gradient.
"""

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Query, Support, TaskBatch
from metarec_jax.meta import base, inner
from metarec_jax.models import embeddings


class Encoder(nn.Module):
  """x [n, d], y [n], mask [n] -> (mu [z], sigma [z])."""
  hidden: Sequence[int] = (64,)
  z_dim: int = 32

  @nn.compact
  def __call__(self, x, y, mask):
    h = jnp.concatenate([x, y[:, None]], -1)
    for i, width in enumerate(self.hidden):
      h = nn.relu(nn.Dense(width, name=f"fc{i + 1}")(h))
    r = jnp.sum(h * mask[:, None], 0) / jnp.maximum(jnp.sum(mask), 1.0)
    out = nn.Dense(2 * self.z_dim, name="latent")(r)
    mu, raw = jnp.split(out, 2)
    return mu, 0.1 + 0.9 * jax.nn.softplus(raw)


class FiLMDecoder(nn.Module):
  """x [n, d], o [d_o] -> rating predictions [n]."""
  hidden: Sequence[int] = (64, 64)
  output_bias: float = 0.0

  @nn.compact
  def __call__(self, x, o):
    h = x
    for i, width in enumerate(self.hidden):
      film = nn.Dense(2 * width, name=f"film{i + 1}",
                      kernel_init=nn.initializers.zeros)(o)
      gamma, beta = jnp.split(film, 2)
      h = nn.relu((1.0 + gamma) * nn.Dense(width, name=f"fc{i + 1}")(h)
                  + beta)
    out = nn.Dense(1, name="out",
                   bias_init=nn.initializers.constant(self.output_bias))(h)
    return out[..., 0]


def gaussian_kl(mu_q, s_q, mu_p, s_p) -> jax.Array:
  return jnp.sum(jnp.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2)
                 / (2 * s_p ** 2) - 0.5)


def soft_assign(z: jax.Array, centres: jax.Array) -> jax.Array:
  q = 1.0 / (1.0 + jnp.sum((z[None] - centres) ** 2, -1))
  return q / jnp.sum(q)


@dataclasses.dataclass(frozen=True)
class TaNP:
  """Uses the MeLU model's embedder; its decision MLP is not used."""
  rows_from_tables = True  # Users and items via the tables only.
  model: object
  z_dim: int = 32
  clusters: int = 8
  kl_weight: float = 0.1
  cluster_weight: float = 0.1

  @property
  def encoder(self):
    return Encoder(self.model.hidden[:1], self.z_dim)

  @property
  def decoder(self):
    return FiLMDecoder(self.model.hidden, self.model.output_bias)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_m, k_e, k_d, k_c = jax.random.split(key, 4)
    embed = self.model.init(k_m, tables)["embed"]
    emb = self.model.embedder.apply({"params": embed}, tables)
    x = embeddings.task_inputs(emb, jnp.int32(0), jnp.zeros((2,), jnp.int32))
    o = jnp.zeros((2 * self.z_dim,))
    return {"embed": embed,
            "encoder": self.encoder.init(k_e, x, jnp.zeros(2),
                                         jnp.ones(2))["params"],
            "decoder": self.decoder.init(k_d, x, o)["params"],
            "clusters": jax.random.normal(k_c, (self.clusters, self.z_dim))}

  def encode(self, params, x, y, mask):
    """Ratings y [n] of items x [n, d] -> (mu [z], sigma [z])."""
    return self.encoder.apply({"params": params["encoder"]}, x, y, mask)

  def representation(self, params, z):
    """z -> (task representation o = [z, cluster read], assignment q)."""
    q = soft_assign(z, params["clusters"])
    return jnp.concatenate([z, q @ params["clusters"]]), q

  def adapt_task(self, params, emb, support: Support, drop=None):
    """One task: o from the support alone (the prior mean of z)."""
    x_s = embeddings.task_inputs(emb, support.user, support.items, drop)
    mu, _ = self.encode(params, x_s, support.ratings, support.mask)
    return self.representation(params, mu)[0]

  def predict_task(self, params, emb, o, query: Query, drop=None):
    x_q = embeddings.task_inputs(emb, query.user, query.items, drop)
    return self.decoder.apply({"params": params["decoder"]}, x_q, o)

  def adapt(self, params, tables, support: Support, hparams):
    del hparams  # No inner rate.
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda s: self.adapt_task(params, emb, s))(support)

  def predict(self, params, tables, adapted, query: Query):
    emb = self.model.embed_all(params, tables)
    return jax.vmap(lambda o, q: self.predict_task(params, emb, o, q))(
        adapted, query)

  def task_loss(self, params, emb, task: TaskBatch, rng, drop_s, drop_q):
    """Query MSE with z drawn from the posterior (support and query), plus
    the KL to the support-only prior and the cluster loss."""
    x_s = embeddings.task_inputs(emb, task.user, task.support_items, drop_s)
    x_q = embeddings.task_inputs(emb, task.user, task.query_items, drop_q)
    mu_p, s_p = self.encode(params, x_s, task.support_ratings,
                            task.support_mask)
    mu_q, s_q = self.encode(
        params, jnp.concatenate([x_s, x_q]),
        jnp.concatenate([task.support_ratings, task.query_ratings]),
        jnp.concatenate([task.support_mask, task.query_mask]))
    z = mu_q + s_q * jax.random.normal(rng, mu_q.shape)
    o, q = self.representation(params, z)
    target = jax.lax.stop_gradient(q ** 2 / jnp.sum(q ** 2))
    cluster = jnp.sum(target * jnp.log(target / q))
    pred = self.decoder.apply({"params": params["decoder"]}, x_q, o)
    mse = inner.masked_mse(pred, task.query_ratings, task.query_mask)
    return (mse + self.kl_weight * gaussian_kl(mu_q, s_q, mu_p, s_p)
            + self.cluster_weight * cluster)

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    del hparams  # No inner loop.
    emb = self.model.embed_all(params, tables)
    r_s, r_q, r_z = jax.random.split(rng, 3)
    t = batch.user.shape[0]
    drop_s = self.model.drop_ids(r_s, batch.support_items.shape)
    drop_q = self.model.drop_ids(r_q, batch.query_items.shape)
    if drop_s is None:
      drop_s = jnp.zeros(batch.support_items.shape, bool)
      drop_q = jnp.zeros(batch.query_items.shape, bool)
    losses = jax.vmap(lambda task, r, d_s, d_q: self.task_loss(
        params, emb, task, r, d_s, d_q))(batch, jax.random.split(r_z, t),
                                         drop_s, drop_q)
    return base.task_mean(losses, batch.task_mask), {}


def build(config, model) -> TaNP:
  return TaNP(model, config.model.z_dim, config.model.clusters,
              config.kl_weight, config.cluster_weight)
