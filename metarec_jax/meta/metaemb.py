"""Meta-Embedding (Pan et al., SIGIR 2019, "Warm Up Cold-start
Advertisements: Improving CTR Predictions via Learning to Learn ID
Embeddings"), on the MeLU model, role-agnostic.

A generator G maps the task entity's feature vector f = emb.users[task]
[du] to its id vector e0 = G(f) [k] (warmup.py appends it to the decision
MLP's inputs). G is the authors' "simplest" generator: one bias-free Dense
layer with tanh, divided by 5 so that e0 starts as small as a fresh id
table's vectors.

Meta-loss, per task, as the paper's:
  a  = support MSE with e0                      (cold-start loss)
  e1 = e0 - lr * grad_e0(a)                     (one warm-up step on e0 only)
  b  = query MSE with e1                        (warm-up loss)
  loss = alpha * a + (1 - alpha) * b,  lr = inner.task_rate(inner_lr)
with the gradient through the step (second order). At test time e0 takes
`inner_steps` such steps (warmup.IdWarmUp.adapt).

What trains what: every parameter gets the exact gradient of that loss; the
generator, the feature embeddings and the decision MLP alike. The paper
(and the authors' code) freeze a pretrained base model and stop the gradient
into the feature embeddings, because there the base already holds a trained
id space (the warm items' ids) that G must imitate without disturbing it.
Here the task entity has no pretrained ids: the decision MLP's id slot
exists only for e0 and e1, so the base must learn to read it, and these
losses are its only signal for that. Both terms are squared errors on the
task's real ratings, so they are ordinary training data for the base too.
A split (e.g. base by b alone) would also make the optimised objective
differ from the reported meta-loss, which the conformance checks compare
with finite differences.

The task entity's text is not used: the tables hold text for the rated side
only (tables["item_text"]).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from metarec_jax.core.types import Params, PRNGKey, Support, TaskBatch
from metarec_jax.meta import base, inner, warmup
from metarec_jax.models import embeddings


class Generator(nn.Module):
  """f [du] -> e0 [dim]."""
  dim: int

  @nn.compact
  def __call__(self, f: jax.Array) -> jax.Array:
    return jnp.tanh(nn.Dense(self.dim, use_bias=False, name="dense")(f)) / 5.0


@dataclasses.dataclass(frozen=True)
class MetaEmb(warmup.IdWarmUp):
  """Attributes (beyond IdWarmUp's): alpha, the cold-start loss's weight
  (the paper: 0.1)."""
  alpha: float = 0.1

  @property
  def generator(self) -> Generator:
    return Generator(self.id_dim)

  def init(self, key: PRNGKey, tables: dict) -> Params:
    k_shared, k_gen = jax.random.split(key)
    params, emb = self.init_shared(k_shared, tables)
    params["generator"] = self.generator.init(k_gen, emb.users[0])["params"]
    return params

  def start(self, params, emb, support: Support, x_s) -> jax.Array:
    """e0 = G(the task entity's features): no rating enters."""
    del x_s
    return self.generator.apply({"params": params["generator"]},
                                emb.users[support.user])

  def task_losses(self, params, emb, task: TaskBatch, hparams, d_s, d_q):
    """One task -> (cold loss a, warm loss b)."""
    x_s = embeddings.task_inputs(emb, task.user, task.support_items, d_s)
    x_q = embeddings.task_inputs(emb, task.user, task.query_items, d_q)
    e0 = self.start(params, emb, task.support, x_s)
    e1, cold = self.warm_up(params, x_s, task.support, e0, hparams, 1,
                            first_order=False)
    warm = inner.masked_mse(self.decide(params, x_q, e1), task.query_ratings,
                            task.query_mask)
    return cold[0], warm

  def meta_loss(self, params, tables, batch: TaskBatch, rng, hparams):
    """alpha * a + (1 - alpha) * b over the real tasks; logs a and b."""
    emb = self.model.embed_all(params, tables)
    drop_s, drop_q = self.id_drops(rng, batch)
    cold, warm = jax.vmap(lambda task, d_s, d_q: self.task_losses(
        params, emb, task, hparams, d_s, d_q))(batch, drop_s, drop_q)
    a = base.task_mean(cold, batch.task_mask)
    b = base.task_mean(warm, batch.task_mask)
    return self.alpha * a + (1.0 - self.alpha) * b, {"cold_loss": a,
                                                     "warm_loss": b}


def build(config, model) -> MetaEmb:
  return MetaEmb(model, config.inner_steps, config.metaemb_alpha)
