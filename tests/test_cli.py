"""Config flags: a mistyped field or an unknown config word is one line that
names it and the nearest real one, with exit code 2; every field the tables
use can be set on the command line of every script."""

import os
import subprocess
import sys

import ml_collections
import pytest

from configs import melu, selected
from configs.tables import coldstart
from metarec_jax.core import cli, config_util
from metarec_jax.core.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MELU = os.path.join(ROOT, "configs", "melu.py")


def _check(capsys, *argv):
  with pytest.raises(SystemExit) as e:
    cli.check_config_args(list(argv))
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("error: ")
  return err


@pytest.mark.parametrize("field, says", [
    ("data.items", "ConfigDict method name, not a field); did you mean "
                   "--config.data.items_file?"),
    ("model.residul", "did you mean --config.model.residual?"),
    ("bias_priors", "did you mean --config.bias_prior?"),
    ("seed.x", "--config.seed is not a group of fields."),
])
def test_mistyped_field_is_one_line_naming_the_right_one(capsys, field,
                                                         says):
  err = _check(capsys, f"--config={MELU}:ml100k", f"--config.{field}=1")
  assert f"--config.{field}: no such config field" in err and says in err


def test_the_table_fields_are_settable_everywhere():
  """Every field of a table row's config is a field of the base config, so
  main.py, reproduce_table.py and sweep.py accept the same --config.*."""
  base = set(_fields(melu.get_config("ml100k")))
  table = coldstart.get_config("ml100k,text")
  for name in table.methods:
    flat = _fields(config_util.with_overrides(table, table.tuned.get(name,
                                                                     {})))
    extra = {f for f in flat if not f.startswith(
        ("tuned.", "sweep.", "grid.", "base_grid."))}
    assert extra - base == {"methods", "seeds", "vmap_seeds", "curve_ks"}
  cli.check_config_args([f"--config={MELU}:ml100k", "--config.method=mamo",
                         "--config.model.residual=True",
                         "--config.weight_decay=0.01",
                         "--config.bias_prior=10", "--config.patience=3",
                         "--noconfig.model.residual"])


def _fields(config, prefix=""):
  out = []
  for k, v in config.items():
    if isinstance(v, (dict, ml_collections.ConfigDict)):
      out += _fields(v, f"{prefix}{k}.")
    else:
      out.append(prefix + k)
  return out


@pytest.mark.parametrize("module, arg", [
    (melu, "ml1M"), (melu, "goodbooks"), (melu, "ml100k,ml1m"),
    (coldstart, "ml100k,fo"), (selected, "ml100k,text")])
def test_unknown_config_word_is_an_error(module, arg):
  with pytest.raises(ConfigError, match="config argument"):
    module.get_config(arg)


def test_main_exits_2_with_one_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "main.py"),
       f"--config={MELU}:ml100k", "--config.data.items=ratings.csv",
       f"--workdir={tmp_path / 'w'}"], capture_output=True, text=True,
      timeout=300, check=False)
  assert proc.returncode == 2 and proc.stdout == ""
  assert proc.stderr.strip().splitlines() == [
      "error: --config.data.items: no such config field (a ConfigDict "
      "method name, not a field); did you mean --config.data.items_file?"]
  assert not (tmp_path / "w").exists()


def test_selected_config_is_the_table_row_for_seed_0(monkeypatch):
  """configs/selected.py: the committed table's lowest validation row, its
  seed-0 choices, its base method for an alias row, no row: init_from, and
  the text features on for a table made with text rows."""
  table = {"validation_mae": {"finetune_adversarial": 0.70, "ridge_text": 0.8},
           "residual_base": {"0": {"item_prior": 3.0, "bias_prior": 10.0}},
           "grid_chosen": {"finetune_adversarial": [
               {"adversarial_eps": 0.5}, {"adversarial_eps": 0.0}]}}
  monkeypatch.setattr(selected, "committed_table", lambda dataset: table)
  c = selected.get_config("ml100k")
  assert c.method == "finetune" and c.adversarial_eps == 0.5
  assert (c.item_prior, c.bias_prior, c.seed) == (3.0, 10.0, 0)
  assert c.data.text_features
  table["validation_mae"] = {"mf_meta": 0.7, "mf_foldin": 0.8}
  c = selected.get_config("ml100k")
  assert c.method == "mf_meta" and not c.get("init_from")
  assert not c.data.text_features
