"""Every registered method passes the same checks (method_checks.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metarec_jax.data import pipeline
from metarec_jax.meta import base, registry
from metarec_jax.serving import recommender
from metarec_jax.train import engine, experiment, step
from method_checks import check_method, toy_batch
from tiny_run import tiny_config, write_dataset

# The table's rows: every base method, the text rows and the ensemble, all
# residual to the floor as in the tables. mf_foldin is fitted in closed form
# and never stepped (tests/test_mf_foldin.py checks its fit); it still
# passes every check here, the gradient ones included: its meta_loss (query
# MSE after the fold-in solve) is exact and differentiable.
NAMES = list(registry.BUILDERS) + ["melu_fo_text", "finetune_text",
                                   "ridge_text", registry.ENSEMBLE]


def table_setup(folder: str):
  """(config, prep): the tiny dataset as the tables' rows see it (residual,
  priors, small shapes) with stand-in item text. Shared with
  test_mixed_precision.py."""
  config = tiny_config(write_dataset(folder))
  config.model.residual = True
  config.bias_prior, config.support_prior = 2.0, 5.0
  config.model.z_dim, config.model.clusters = 4, 3
  config.ensemble_size = 2
  config.inner_steps = 1
  config.model.hidden = (8,)
  prep = pipeline.prepare(config.data, 0)
  # Stand-in text embeddings (the real encoder is tested in test_bert.py).
  text = np.random.default_rng(0).normal(size=(len(prep.items), 16))
  prep.tables["item_text"] = (text / np.linalg.norm(
      text, axis=1, keepdims=True)).astype(np.float32)
  return config, prep


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  return table_setup(str(tmp_path_factory.mktemp("data")))


@pytest.mark.parametrize("name", NAMES)
def test_method_conforms(name, setup, tmp_path):
  config, prep = setup
  check_method(name, config.copy_and_resolve_references(), prep, tmp_path)


def test_every_name_builds(setup):
  """Each name the registry lists builds (the _lora ones need an encoder:
  test_text_features.py), and an unknown one names the choices."""
  config, prep = setup
  for name in registry.names():
    if name.endswith("_lora"):
      continue
    config.method = name
    method = registry.build(config, prep)
    # Built-in methods read users and items through the tables only, so
    # the meta-step may hand them the batch's rows (train/batch_rows.py);
    # mf_foldin's and mf_meta's params are per item (mf_foldin takes no
    # meta-steps).
    per_item = name in ("mf_foldin", "mf_meta")
    assert base.rows_from_tables(method) != per_item, name
    assert base.closed_form(method) == (name == "mf_foldin"), name
  config.method = "mamo_typo"
  with pytest.raises(ValueError, match="unknown method.*choose from"):
    registry.build(config, prep)


@dataclasses.dataclass(frozen=True)
class ItemBias:
  """A method written as a user would add one: a learned bias per item on
  top of the user's mean support rating; no inner gradient steps."""
  num_items: int

  def init(self, key, tables):
    del key, tables
    return {"bias": jnp.zeros((self.num_items,), jnp.float32)}

  def adapt(self, params, tables, support, hparams):
    del params, tables, hparams
    n = jnp.maximum(jnp.sum(support.mask, -1), 1.0)
    return jnp.sum(support.ratings * support.mask, -1) / n

  def predict(self, params, tables, adapted, query):
    del tables
    return adapted[:, None] + params["bias"][query.items]

  def meta_loss(self, params, tables, batch, rng, hparams):
    del rng
    pred = base.adapted_predictions(self, params, tables, batch, hparams)
    err = jnp.sum(batch.query_mask * (pred - batch.query_ratings) ** 2, -1)
    return base.task_mean(err / batch.query_mask.shape[1],
                          batch.task_mask), {}


def test_a_new_method_is_one_builder_and_one_registry_line(setup, tmp_path,
                                                           monkeypatch):
  """Registered with one line, a new method passes every check and trains,
  evaluates and serves through main.py's experiment unchanged."""
  config, prep = setup
  monkeypatch.setitem(registry.BUILDERS, "item_bias",
                      lambda c, model: ItemBias(len(prep.items)))
  # Its params are indexed by item: it never gets a batch's rows only, so
  # a step with config.batch_rows is the step without.
  method = ItemBias(len(prep.items))
  assert not base.rows_from_tables(method)
  tables = jax.tree.map(np.asarray, prep.tables)
  batch = engine.stack([toy_batch(prep)])
  state = engine.stack([step.init_state(method, tables, 0, 1e-2, 0.0, 10.0)])
  after = [step.make_step(method, 10.0, batch_rows=rows)(
      jax.tree.map(jnp.copy, state), engine.stack([tables]), batch,
      engine.stack([base.hparams(config)]))[0].params["bias"]
           for rows in (False, True)]
  np.testing.assert_array_equal(after[0], after[1])
  assert np.abs(after[0] - state.params["bias"]).max() > 0
  check_method("item_bias", config.copy_and_resolve_references(), prep,
               tmp_path)
  c = config.copy_and_resolve_references()
  c.method, c.model.residual = "item_bias", False
  results = experiment.train_and_evaluate(c, str(tmp_path / "run"))
  assert np.isfinite(results["scenarios"]["user_cold"]["mae"])
  rec = recommender.Recommender.load(str(tmp_path / "run"))
  assert len(rec.top_k(rec.adapt([(1, 5.0)]), 3)) == 3
