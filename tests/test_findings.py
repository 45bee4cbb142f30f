"""experiments/findings.py: the numbers docs/tables.md argues from."""

from metarec_jax.experiments import findings

SCENARIOS = ("warm", "user_cold")


def _cells(values: dict) -> dict:
  """{scenario: {metric: mean}} -> table.json's cells."""
  return {s: {m: {"mean": v, "seeds": [v], "std": 0.0}
              for m, v in per.items()} for s, per in values.items()}


def _table(methods: dict, validation: dict) -> dict:
  floor = {s: {"mae": 0.80, "ndcg@3": 0.70, "precision@3": 0.60}
           for s in SCENARIOS}
  rand = {s: {"mae": 1.20, "ndcg@3": 0.72, "precision@3": 0.55}
          for s in SCENARIOS}
  return {"methods": {r: _cells(v) for r, v in methods.items()},
          "floors": {"item_mean": _cells(floor), "random": _cells(rand)},
          "validation_mae": validation,
          "validation_mae_seeds": {r: [v, v + 0.01] if r == "a" else [v, v]
                                   for r, v in validation.items()}}


def test_selected_block_counts_wins_against_floors_and_rivals():
  good = {"mae": 0.75, "ndcg@3": 0.71, "precision@3": 0.65}
  bad = {"mae": 0.85, "ndcg@3": 0.69, "precision@3": 0.50}
  table = _table({"a": {"warm": good, "user_cold": bad},
                  "content": {"warm": bad, "user_cold": good}},
                 {"a": 0.70, "content": 0.71})
  text = findings.markdown(table)
  assert "Validation selects `a` (0.7000), then `content` (0.7100)" in text
  # a's seeds 0.70, 0.71 against content's 0.71, 0.71: lower on one.
  assert "`a` is lower on 1/2 seeds" in text
  # nDCG's best floor is random's 0.72 (random counts for rankings only).
  assert "MAE 1/2, nDCG@3 0/2, P@3 1/2 scenarios" in text
  assert "| user_cold | MAE | 0.8500! | 0.8000 (item_mean) | 0.7500 |" in text
  assert "`content` in MAE 1/2, nDCG@3 1/2" in text


def test_transfer_block_reports_what_the_source_adds():
  rows = {"m_target_only": 0.79, "m_source_only": 0.90,
          "m_source_then_target": 0.77}
  table = _table({r: {s: {"mae": v, "ndcg@3": 0.7} for s in SCENARIOS}
                  for r, v in rows.items()},
                 {r: v for r, v in rows.items()})
  text = findings.markdown(table)
  assert "Validation selects `m_source_then_target`" in text
  assert ("| warm | MAE | 0.7900 | 0.9000! | 0.7700 | -0.0200 | 0.8000 "
          "(item_mean) |") in text
