"""Every registered method passes the same checks (method_checks.py)."""

import numpy as np
import pytest

from metarec_jax.data import pipeline
from metarec_jax.meta import registry
from method_checks import check_method
from tiny_run import tiny_config, write_dataset

# The table's rows: every base method, the text rows and the ensemble, all
# residual to the floor as in the tables.
NAMES = list(registry.BUILDERS) + ["melu_fo_text", "finetune_text",
                                   registry.ENSEMBLE]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  folder = write_dataset(str(tmp_path_factory.mktemp("data")))
  config = tiny_config(folder)
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
    assert registry.build(config, prep) is not None
  config.method = "mamo_typo"
  with pytest.raises(ValueError, match="unknown method.*choose from"):
    registry.build(config, prep)
