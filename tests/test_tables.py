"""table.json aggregation and the marks in table.md, by hand."""

import json

import numpy as np
import pytest

from configs.tables import coldstart as table_config
from metarec_jax.evaluation import floors
from metarec_jax.experiments import coldstart, docs, findings, tables
from metarec_jax.data import scenarios


def _metrics(mae, ndcg):
  return {"mae": mae, "rmse": mae + 0.2, "ndcg@1": ndcg, "ndcg@3": ndcg,
          "ndcg@5": ndcg}


def test_table_marks_best_and_floor_losers():
  seeds = [{s: _metrics(0.70 + 0.01 * i, 0.80) for s in scenarios.SCENARIOS}
           for i in range(3)]
  loser = [{s: _metrics(0.76, 0.90) for s in scenarios.SCENARIOS}] * 3
  fl = {f: {s: _metrics(0.75, 0.85) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  table = tables.build_table({"good": seeds, "bad": loser}, [fl] * 3)
  cell = table["methods"]["good"]["warm"]["mae"]
  assert cell["mean"] == 0.71 and cell["seeds"] == [0.7, 0.71, 0.72]
  assert np.isclose(cell["std"], 0.01)
  md = tables.markdown(table)
  good = next(l for l in md.splitlines() if l.startswith("| good"))
  bad = next(l for l in md.splitlines() if l.startswith("| bad"))
  assert good.split("|")[2].strip() == "**0.7100 ± 0.0100**"
  assert good.split("|")[4].strip() == "0.8000 ± 0.0000 !"  # nDCG loses.
  assert bad.split("|")[2].strip() == "0.7600 ± 0.0000 !"   # MAE loses.
  assert bad.split("|")[4].strip() == "**0.9000 ± 0.0000**"


def test_method_config_applies_tuned_overrides():
  c = table_config.get_config("ml100k,smoke")
  c.tuned = {"maml": {"inner_lr": 0.3, "model": {"item_id_dropout": 0.5}}}
  m = coldstart.method_config(c, "maml")
  assert (m.method, m.inner_lr, m.model.item_id_dropout) == ("maml", 0.3, 0.5)
  other = coldstart.method_config(c, "anil")
  assert other.inner_lr == c.inner_lr


def _row(scenario_values):
  """{S: {metric: summary}} from {S: [per-seed MAE]} (other metrics 0.5)."""
  t = tables
  return {s: {m: t.summarise(v if m == "mae" else [0.5] * len(v))
              for m in t.METRICS} for s, v in scenario_values.items()}


def test_text_effect_is_paired_by_seed():
  t = tables
  table = {"methods": {
      "melu": _row({"item_cold": [0.90, 0.92, 0.94]}),
      "melu_text": _row({"item_cold": [0.89, 0.91, 0.93]}),   # All better.
      "finetune": _row({"item_cold": [0.90, 0.92, 0.94]}),
      "finetune_text": _row({"item_cold": [0.80, 0.93, 0.95]}),  # 1/3 seeds.
  }}
  lines = t.text_effect(table)
  melu = next(l for l in lines if l.startswith("- melu ->") and " mae:" in l)
  assert "0.9200 -> 0.9100 (-0.0100; text better on 3/3 seeds)" in melu
  assert melu.endswith("**clear gain**")
  ft = next(l for l in lines if l.startswith("- finetune ->") and " mae:" in l)
  assert "better on 1/3 seeds" in ft and ft.endswith("**no clear gain**")
  nd = next(l for l in lines if l.startswith("- melu ->") and "ndcg@3" in l)
  assert "0/3" in nd and "no clear gain" in nd  # Equal is not better.


def test_selection_line_counts_seeds_against_the_runner_up():
  fl = {f: {s: _metrics(0.75, 0.85) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  row = [{s: _metrics(0.7, 0.9) for s in scenarios.SCENARIOS}] * 3
  table = tables.build_table({"a": row, "b": row}, [fl] * 3)
  table["validation_mae_seeds"] = {"a": [0.70, 0.80, 0.71],
                                   "b": [0.72, 0.79, 0.72]}
  table["validation_mae"] = {m: float(np.mean(v)) for m, v in
                             table["validation_mae_seeds"].items()}
  md = tables.markdown(table)
  assert ("Selected: **a** (lower than the runner-up b on 2/3 seeds, by "
          "-0.0100 to +0.0200).") in md


def test_a_row_tied_on_every_seed_is_named_and_the_margin_skips_it():
  """A row equal to the selected one on every seed (a variant validation
  cannot see) is reported as tied; the earlier row stays selected and the
  margin is against the next row. Equal on some seeds only is no tie."""
  fl = {f: {s: _metrics(0.75, 0.85) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  row = [{s: _metrics(0.7, 0.9) for s in scenarios.SCENARIOS}] * 3
  table = tables.build_table({"a": row, "a_known": row, "b": row,
                              "c": row}, [fl] * 3)
  table["validation_mae_seeds"] = {"a": [0.70, 0.80, 0.71],
                                   "a_known": [0.70, 0.80, 0.71],
                                   "b": [0.72, 0.79, 0.72],
                                   "c": [0.70, 0.80, 0.74]}
  table["validation_mae"] = {m: float(np.mean(v)) for m, v in
                             table["validation_mae_seeds"].items()}
  md = tables.markdown(table)
  assert ("Selected: **a** (lower than the runner-up b on 2/3 seeds, by "
          "-0.0100 to +0.0200; tied on every seed with a_known, kept as "
          "the earlier row).") in md
  line = findings.selection_line(table)
  assert line.startswith("Validation selects `a` (0.7367) (tied on every "
                         "seed with `a_known`")
  assert line.endswith(", then `b` (0.7433); `a` is lower on 2/3 seeds.")
  assert docs.selected(table) == "a"


def _ranked(mae, p1, cat):
  """Every metric: MAE, nDCG 0.8, precision/recall p1, catalogue cat."""
  m = _metrics(mae, 0.8)
  m.update({k: p1 for k in tables.GROUPS[1][1]})
  m.update({k: cat for k in tables.GROUPS[2][1]})
  m.update(n_tasks=10, n_tasks_no_relevant=2)
  return m


def test_ranking_metrics_get_their_own_blocks_and_marks():
  fl = {f: {s: _ranked(0.75, 0.6, 0.01) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  fl["random"] = {s: _ranked(1.2, 0.5, 0.05) for s in scenarios.SCENARIOS}
  row = [{s: _ranked(0.7, 0.7, 0.03) for s in scenarios.SCENARIOS}] * 2
  old = [{s: _metrics(0.7, 0.9) for s in scenarios.SCENARIOS}] * 2
  table = tables.build_table({"good": row, "old": old}, [fl] * 2)
  assert "precision@1" not in table["methods"]["old"]["warm"]  # Older runs.
  assert table["methods"]["good"]["warm"]["n_tasks_no_relevant"]["mean"] == 2
  md = tables.markdown(table)
  block = md.split("### warm: precision and recall in the query")[1]
  assert block.startswith(" (left out of precision and recall, no relevant "
                          "query item: 2 of 10 users, mean over seeds)")
  head, _, good, old_line = block.splitlines()[2:6]
  assert head == ("| | precision@1 | precision@3 | precision@5 | recall@1 | "
                  "recall@3 | recall@5 |")
  # Higher is better: 0.7 beats every floor (random 0.5, others 0.6).
  assert good.split("|")[2].strip() == "**0.7000 ± 0.0000**"
  assert old_line.split("|")[2].strip() == "–"
  cat = md.split("### warm: catalogue ranking")[1].splitlines()
  assert cat[2] == "| | recall@10 | recall@20 | ndcg@10 |"
  # 0.03 beats the item floors (0.01) but not random (0.05): marked.
  assert cat[4].split("|")[2].strip() == "0.0300 ± 0.0000 !"
  assert "| _random_ (floor) | **0.0500 ± 0.0000** |" in "\n".join(cat)


def _full(mae, ndcg3, corr, pess):
  """_ranked's metrics plus corr, the pessimistic bounds and counts."""
  m = _ranked(mae, 0.6, 0.02)
  m.update({"ndcg@3": ndcg3, "corr": corr, "n_tasks_constant_truth": 1})
  m.update({k: pess for k in tables.STORED if k.endswith("_pessimistic")})
  return m


def test_corr_and_the_pessimistic_bound_are_shown_and_stored():
  fl = {f: {s: _full(0.75, 0.85, 0.1, 0.5) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  row = [{s: _full(0.7, 0.9, 0.3, 0.4) for s in scenarios.SCENARIOS}] * 2
  table = tables.build_table({"m": row}, [fl] * 2)
  cell = table["methods"]["m"]["warm"]
  # Every bound is in table.json, the columns show two of them.
  assert cell["catalogue_recall@20_pessimistic"]["mean"] == 0.4
  assert cell["n_tasks_constant_truth"]["mean"] == 1
  md = tables.markdown(table).split("## user_cold")[0]
  head = next(l for l in md.splitlines() if l.startswith("| | mae"))
  assert head == "| | mae | rmse | ndcg@1 | ndcg@3 | ndcg@5 | corr |"
  line = next(l for l in md.splitlines() if l.startswith("| m |"))
  assert line.split("|")[7].strip() == "**0.3000 ± 0.0000**"  # corr.
  assert "left out (all query ratings equal): 1 of 10" in md
  bound = md.split("### warm: lower bound, ties broken pessimistically")[1]
  lines = bound.splitlines()
  assert lines[2] == "| | ndcg@3 | precision@3 |"
  # The method's bound (0.4) is compared with the floors' bounds (0.5).
  assert lines[4] == "| m | 0.4000 ± 0.0000 ! | 0.4000 ± 0.0000 ! |"


def test_table_json_alone_renders_the_same_markdown_in_row_order():
  fl = {f: {s: _metrics(0.75, 0.85) for s in scenarios.SCENARIOS}
        for f in floors.FLOORS}
  row = [{s: _metrics(0.7, 0.9) for s in scenarios.SCENARIOS}] * 2
  # Config order, not alphabetical: a JSON file sorts its keys.
  table = tables.build_table({"zeta": row, "alpha": row}, [fl] * 2)
  table["title"] = "Cold-start table: tiny"
  assert table["row_order"] == ["zeta", "alpha", *floors.FLOORS]
  md = tables.render_markdown(table)
  read = json.loads(json.dumps(table, sort_keys=True))
  assert list(read["methods"]) == ["alpha", "zeta"]
  assert tables.render_markdown(read) == md
  assert md.startswith("# Cold-start table: tiny\n")
  labels = [l.split("|")[1].strip() for l in md.split("## user_cold")[0]
            .splitlines() if l.startswith("| ") and "---" not in l][1:]
  assert labels == ["zeta", "alpha"] + [f"_{f}_ (floor)"
                                        for f in floors.FLOORS]
  read["row_order"] = ["nobody"]
  with pytest.raises(ValueError, match="row_order names rows the table "
                     "lacks: \\['nobody'\\]"):
    tables.render_markdown(read)
  with pytest.raises(ValueError, match="name both a method and a floor"):
    tables.build_table({"random": row}, [fl] * 2)
