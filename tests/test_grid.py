"""Per-seed choices: each seed's residual base and grid point come from its
own validation users (experiments/residual_base.py, experiments/grid.py)."""

import jax
import numpy as np
import pytest

from configs.tables import coldstart as table_config
from metarec_jax.core import config_util, io
from metarec_jax.data import pipeline
from metarec_jax.evaluation import metrics, predict
from metarec_jax.experiments import coldstart, grid, residual_base
from metarec_jax.train import checkpoints
from tiny_run import write_dataset


def test_grid_points_and_choice():
  c = table_config.get_config("ml100k,smoke")
  c.grid = {"default": {"support_prior": (10.0, 30.0), "outer_lr": (1e-3,)},
            "global": {"outer_lr": (1e-3, 3e-3)}}
  assert grid.points(c, "melu") == [
      {"outer_lr": 1e-3, "support_prior": 10.0},
      {"outer_lr": 1e-3, "support_prior": 30.0}]
  assert grid.points(c, "global") == [{"outer_lr": 1e-3},
                                      {"outer_lr": 3e-3}]
  c.grid = {"default": {"num_steps": (5, 10)}}
  with pytest.raises(ValueError, match="not traced"):
    grid.points(c, "melu")
  recs = [{"best_validation_mae": 0.8, "best_step": 5},
          {"best_validation_mae": 0.7, "best_step": 5, "diverged_at": 9},
          {"best_validation_mae": 0.75, "best_step": 10}]
  assert grid.choose(recs) == 2  # A diverged point never wins.


def _base_mae(prep, config, item_prior, bias_prior):
  """The base's criterion computed in numpy, apart from residual.py."""
  stats = prep.floor_stats
  count = np.bincount(prep.items.index(prep.split.train_pool.item),
                      minlength=len(prep.items))
  shrunk = stats.item_mean + item_prior / np.maximum(
      count + item_prior, 1e-6) * (stats.global_mean - stats.item_mean)
  tasks = prep.tasks["validation"]
  sets = [tasks] + [tasks.k_shot(k) for k in config.validation_k_shots]
  maes = []
  for t in sets:
    pred = np.zeros(t.query_items.shape)
    for i in range(len(t)):
      items, r = t.support_items[i], t.support_ratings[i]
      bias = np.sum(r - shrunk[items]) / max(len(r) + bias_prior, 1.0)
      pred[i] = shrunk[t.query_items[i]] + bias
    pred = predict.clip(pred, prep.rating_range)
    maes.append(metrics.compute_metrics(t.query_ratings, pred)["mae"])
  return float(np.mean(maes))


def test_residual_base_is_chosen_per_seed_on_its_own_validation(tmp_path):
  folder = write_dataset(str(tmp_path / "data"))
  c = table_config.get_config("ml100k,smoke")
  c.data = config_util.with_overrides(c.data, {
      "name": "csv", "ratings": f"{folder}/ratings.csv",
      "users": f"{folder}/users.csv", "items_file": f"{folder}/items.csv"})
  c.base_grid = {"item_prior": (0.0, 2.0, 50.0), "bias_prior": (0.0, 5.0)}
  preps = {s: pipeline.prepare(c.data, s) for s in (0, 1)}
  for s, prep in preps.items():
    got = residual_base.choose(c, prep)
    want = {(p["item_prior"], p["bias_prior"]): _base_mae(
        prep, c, p["item_prior"], p["bias_prior"])
            for p in residual_base.points(c)}
    for row in got["points"]:
      key = (row["point"]["item_prior"], row["point"]["bias_prior"])
      assert row["validation_mae"] == pytest.approx(want[key], abs=2e-6)
    best = min(want, key=want.get)
    assert (got["chosen"]["item_prior"], got["chosen"]["bias_prior"]) == best
  # The table keeps each seed's choice and every run of that seed uses it.
  config = coldstart.choose_bases(c, preps, str(tmp_path))
  saved = io.read_json(str(tmp_path / "residual_base.json"))
  for s in (0, 1):
    chosen = saved[str(s)]["chosen"]
    cs = coldstart.seed_config(config, s)
    assert (cs.item_prior, cs.bias_prior, cs.seed) == (
        chosen["item_prior"], chosen["bias_prior"], s)


def test_table_row_keeps_each_seeds_best_grid_point(tmp_path):
  c = table_config.get_config("ml100k,smoke")
  c.methods, c.seeds = ("finetune",), (0, 1)
  c.num_steps, c.eval_every, c.inner_steps = 2, 2, 1
  c.ensemble_size, c.curve_ks = 1, ()
  c.catalogue = False
  # Outer rates far apart: the points train different parameters. The
  # better one is listed second, so "keep the first point" cannot pass.
  rates = (1e-2, 1e-4)
  c.grid = {"default": {"outer_lr": rates}}
  table = coldstart.reproduce(c, str(tmp_path))
  chosen = []
  for s in (0, 1):
    run = tmp_path / "runs" / "finetune" / f"seed{s}"
    sel = io.read_json(str(run / "results.json"))["selection"]
    maes = [g["best_validation_mae"] for g in sel["grid"]]
    assert [g["point"] for g in sel["grid"]] == [{"outer_lr": r}
                                                 for r in rates]
    assert maes[0] != maes[1]
    j = int(np.argmin(maes))
    assert sel["grid_chosen"] == {"outer_lr": rates[j]}
    assert sel["best_validation_mae"] == pytest.approx(maes[j], abs=1e-6)
    assert io.read_json(str(run / "results.json"))["config"]["outer_lr"] == (
        rates[j])
    # The seed's folder serves the chosen point's parameters.
    served = checkpoints.restore_params(str(run), None)
    other = checkpoints.restore_params(str(run / "grid" / str(1 - j)), None)
    mine = checkpoints.restore_params(str(run / "grid" / str(j)), None)
    same = jax.tree.leaves(jax.tree.map(np.array_equal, served, mine))
    differ = jax.tree.leaves(jax.tree.map(np.array_equal, served, other))
    assert all(same) and not all(differ)
    chosen.append(sel["grid_chosen"])
    # table.json keeps what every seed's choice compared.
    assert table["grid_validation"]["finetune"][s] == [
        {"point": g["point"], "mae": g["best_validation_mae"]}
        for g in sel["grid"]]
  assert table["grid_chosen"]["finetune"] == chosen
  assert {"outer_lr": rates[1]} in chosen
  assert table["validation_mae_seeds"]["finetune"] == [
      pytest.approx(min(g["best_validation_mae"] for g in io.read_json(str(
          tmp_path / "runs" / "finetune" / f"seed{s}" / "results.json"))[
              "selection"]["grid"]), abs=1e-6) for s in (0, 1)]


def test_control_rows_keep_off_among_their_points():
  """A control row's seeds choose between the control off and on: off is
  always a point, and the row runs its base method."""
  c = table_config.get_config("ml100k,text,controls")
  rows = table_config.control_rows(text=True)
  assert {r for r, *_ in rows} <= set(c.methods)
  for row, method, spec, _ in rows:
    assert coldstart.method_config(c, row).method == method
    pts = grid.points(c, row)
    for name in spec:
      assert {p[name] for p in pts} >= {0.0} and len(pts) == len(spec[name])


def test_table_reads_only_row_grid_points_back():
  """A run's selection may carry a method's own fit grid (mf_foldin's
  ALS points, once under "grid"): a table's grid_validation keeps only the
  row grid's points, which name their point."""
  from metarec_jax.experiments import coldstart
  row = {"point": {"outer_lr": 1e-3}, "best_validation_mae": 0.7}
  fit = {"rank": 16, "reg": 5.0, "validation_mae": 0.75}
  assert coldstart._grid_records({"grid": [fit, row]}) == [row]
  assert coldstart._grid_records({"fit_grid": [fit]}) == []
