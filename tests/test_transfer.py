"""The transfer table end to end on two tiny catalogues: the source table
trains first, zero-shot rows are the source runs as they are, and the
transferred rows start from their own seed's source run."""

import os

import jax
import numpy as np
from flax import traverse_util

from configs.tables import transfer as transfer_config
from metarec_jax.core import config_util, io
from metarec_jax.experiments import transfer
from metarec_jax.train import checkpoints
from test_init_from import _other_catalogue
from tiny_run import write_dataset

ROWS = ("finetune_target_only", "finetune_source_only",
        "finetune_source_then_target")


def _on(c, folder):
  c.data = config_util.with_overrides(c.data, {
      "name": "csv", "ratings": f"{folder}/ratings.csv",
      "users": f"{folder}/users.csv", "items_file": f"{folder}/items.csv",
      "text_features": False, "item_fields": ("genres",),
      "user_fields": ("age", "gender"), "buckets": (32,)})
  c.seeds, c.num_steps, c.eval_every, c.checkpoint_every = (0, 1), 4, 2, 2
  c.catalogue, c.model.hidden, c.model.embed_dim = False, (8,), 8
  return c


def _config(tmp_path):
  c = transfer_config.get_config("ml100k,smoke")
  c = _on(c, _other_catalogue(str(tmp_path / "target")))
  c.source = _on(c.source, write_dataset(str(tmp_path / "source")))
  c.source.methods, c.methods = ("finetune",), ROWS
  c.tuned = {
      "finetune_target_only": {"method": "finetune"},
      "finetune_source_only": {"method": "finetune", "num_steps": 0,
                               "init_from": "source:finetune"},
      "finetune_source_then_target": {"method": "finetune",
                                      "init_from": "source:finetune"}}
  return c


def _params(folder):
  return traverse_util.flatten_dict(jax.device_get(
      checkpoints.restore_params(str(folder), None)), sep="/")


def test_transfer_rows_start_from_their_seeds_source(tmp_path):
  work = tmp_path / "table"
  table = transfer.reproduce(_config(tmp_path), str(work))
  assert set(table["methods"]) == set(ROWS)
  for s in (0, 1):
    source = _params(work / "source" / "runs" / "finetune" / f"seed{s}")
    zero = work / "runs" / "finetune_source_only" / f"seed{s}"
    report = io.read_json(str(zero / "init_from.json"))
    assert report["source"].endswith(os.path.join("finetune", f"seed{s}"))
    assert "decision/fc1/kernel" in report["transferred"]
    got = _params(zero)
    # Zero-shot: exactly the source's parameters where they carry over.
    for path in report["transferred"]:
      np.testing.assert_array_equal(got[path], source[path])
    history = io.read_json(str(zero / "results.json"))["selection"]["history"]
    assert [h[0] for h in history] == [0]
    # Trained on the target from there, the source competing as step 0:
    # it keeps the source unless a trained step is better on validation.
    then = work / "runs" / "finetune_source_then_target" / f"seed{s}"
    sel = io.read_json(str(then / "results.json"))["selection"]
    assert [h[0] for h in sel["history"]] == [0, 2, 4]
    assert sel["best_validation_mae"] == min(h[1] for h in sel["history"])
    kept = _params(then)
    same = np.array_equal(kept["decision/fc1/kernel"],
                          source["decision/fc1/kernel"])
    assert same == (sel["best_step"] == 0)
    assert io.read_json(str(then / "init_from.json"))["source"] == (
        report["source"])
  assert "Transfer table" in (work / "table.md").read_text()
