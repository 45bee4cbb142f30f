"""Overfitting controls every method gets: the meta-step applies them.

A method's meta_loss reads tables and a batch; these switches change those
inputs, or the parameters the loss is also taken at, so no method knows:

  feature_dropout    each value of the user and item feature tables is set
                     to 0 (missing: FieldEmbed skips it) with this chance;
  text_dropout       each item's text embedding row is zeroed with this
                     chance (the model must then rate it from its features);
  augment_support_k  each task's support is cut to a random one of these
                     sizes, keeping min(k, n) of its n ratings at random,
                     as the k-shot evaluation cuts it (the global and
                     finetune baselines, which fit every rating of a task,
                     then fit fewer);
  adversarial_eps    APR's adversarial term on the embeddings, weighted by
                     adversarial_weight (train/adversarial.py).

They act in meta-training only (evaluation never calls the step). The
floats are traced hparams (meta/base.HPARAMS), so runs with different
values share one compiled step; which switches the step holds is static
(`Controls`, on when any run of the group sets one), so a group with every
switch off compiles exactly the plain step. Random draws come from the
step's key (fold_in), never from numpy: same seed, same numbers.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

from metarec_jax.core.errors import ConfigError
from metarec_jax.core.types import PRNGKey, TaskBatch

# A fold_in salt: the controls' draws never reuse the method's own keys.
_SALT = 0x5EED
_RATES = ("feature_dropout", "text_dropout")


@dataclasses.dataclass(frozen=True)
class Controls:
  """Which controls a step holds (static; their strengths are traced).

  Attributes:
    adversarial: the adversarial loss term (hparams adversarial_eps,
      adversarial_weight).
    feature_dropout: drop feature values (hparams feature_dropout).
    text_dropout: zero item text rows (hparams text_dropout).
    support_k: the support sizes a training task is cut to; () keeps all.
  """
  adversarial: bool = False
  feature_dropout: bool = False
  text_dropout: bool = False
  support_k: tuple = ()

  def apply(self, tables: dict, batch: TaskBatch, rng: PRNGKey,
            hparams: dict) -> tuple[dict, TaskBatch]:
    """The step's (tables, batch) with the input controls applied; the
    inputs themselves when none is on. Each control draws from its own
    key, so switching one on never changes another's draws."""
    if not (self.feature_dropout or self.text_dropout or self.support_k):
      return tables, batch
    key = jax.random.fold_in(rng, _SALT)
    if self.feature_dropout:
      tables = drop_features(tables, jax.random.fold_in(key, 0),
                             hparams["feature_dropout"])
    if self.text_dropout:
      tables = drop_text(tables, jax.random.fold_in(key, 1),
                         hparams["text_dropout"])
    if self.support_k:
      batch = cut_support(batch, jax.random.fold_in(key, 2), self.support_k)
    return tables, batch


OFF = Controls()


def _check(config) -> None:
  """A clear error naming the field for a value a control cannot take."""
  for name in ("adversarial_eps", "adversarial_weight") + _RATES:
    v = float(config.get(name, 0.0))
    if not math.isfinite(v) or v < 0 or (name in _RATES and v >= 1):
      want = "a probability in [0, 1)" if name in _RATES else "finite, >= 0"
      raise ConfigError(f"--config.{name}={v}: must be {want}.")
  ks = tuple(config.get("augment_support_k", ()) or ())
  if not all(isinstance(k, int) and not isinstance(k, bool) and k > 0
             for k in ks):
    raise ConfigError(f"--config.augment_support_k={ks}: support sizes must "
                      "be positive integers, e.g. (1, 3, 5, 10, 20); () is "
                      "off.")


def of(configs) -> Controls:
  """The controls a group of runs needs: each float control is on when any
  run sets it > 0 (the others then run it at their own value, 0 being
  exactly off); augment_support_k is static, so the runs must agree."""
  configs = list(configs)
  for c in configs:
    _check(c)
  ks = {tuple(c.get("augment_support_k", ()) or ()) for c in configs}
  if len(ks) > 1:
    raise ConfigError(f"--config.augment_support_k differs between the runs "
                      f"of one group ({sorted(ks)}): it is static, so runs "
                      "that share a step must share it.")
  on = lambda name: any(float(c.get(name, 0.0)) > 0 for c in configs)
  return Controls(adversarial=on("adversarial_eps"),
                  feature_dropout=on("feature_dropout"),
                  text_dropout=on("text_dropout"),
                  support_k=ks.pop() if ks else ())


def _drop(key: PRNGKey, x, rate) -> jax.Array:
  x = jnp.asarray(x)
  return jnp.where(jax.random.bernoulli(key, rate, x.shape),
                   jnp.zeros_like(x), x)


def drop_features(tables: dict, rng: PRNGKey, rate) -> dict:
  """tables with each entry of tables["user"][f], tables["item"][f] ([n, w]
  1-based value indices) set to 0 with probability `rate`, per entry. An
  entity can lose all values of a field: FieldEmbed then gives zeros, as
  for a missing value."""
  out = dict(tables)
  for i, side in enumerate(("user", "item")):
    names = sorted(tables[side])
    keys = jax.random.split(jax.random.fold_in(rng, i), max(len(names), 1))
    out[side] = {f: _drop(k, tables[side][f], rate)
                 for f, k in zip(names, keys)}
  return out


def drop_text(tables: dict, rng: PRNGKey, rate) -> dict:
  """tables with each row of tables["item_text"] [I, h] zeroed with
  probability `rate`. A LoRA encoder zeroes its re-encoded vector of a
  zeroed row too (models/text_melu.py)."""
  if "item_text" not in tables:
    raise ConfigError("--config.text_dropout > 0 drops item text embeddings: "
                      "set --config.data.text_features=True and use a method "
                      "that reads them (*_text, *_lora, content).")
  text = jnp.asarray(tables["item_text"])
  drop = jax.random.bernoulli(rng, rate, text.shape[:1])
  return {**tables, "item_text": jnp.where(drop[:, None],
                                           jnp.zeros_like(text), text)}


def cut_support(batch: TaskBatch, rng: PRNGKey, sizes: tuple) -> TaskBatch:
  """Each task's support cut to k of `sizes` (drawn per task): min(k, n) of
  its n real ratings, chosen at random, stay; the others become padding
  (item 0, rating 0, mask 0). Nothing is added; padding tasks stay empty."""
  t, s = batch.support_mask.shape
  k_key, order_key = jax.random.split(rng)
  k = jnp.asarray(sizes, jnp.int32)[
      jax.random.randint(k_key, (t,), 0, len(sizes))]
  real = batch.support_mask > 0
  # A random order of each task's real ratings; padding sorts last.
  score = jnp.where(real, jax.random.uniform(order_key, (t, s)), 2.0)
  rank = jnp.argsort(jnp.argsort(score, axis=-1), axis=-1)
  keep = real & (rank < k[:, None])
  return batch.replace(
      support_items=jnp.where(keep, batch.support_items, 0),
      support_ratings=jnp.where(keep, batch.support_ratings, 0.0),
      support_mask=jnp.where(keep, batch.support_mask, 0.0))
