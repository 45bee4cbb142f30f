r"""The row a committed cold-start table selects on validation, as one run.

  python scripts/main.py --config=configs/selected.py:ml100k --workdir=W
  (ml1m, bookcrossing alike)

docs/tables/coldstart_<dataset>.json names the row with the lowest mean
validation MAE (validation users only; "Selected" in its table.md); this is
that row's table config (configs/tables/coldstart.py: residual to the
floor, schedule) for seed 0, with the values the table chose for seed 0 on
seed 0's validation users (its residual base and grid point). Add `,smoke`
for a run of seconds. The item text features are on when the table was
made with them (a table with `_text` rows: `,text`), since content,
mf_foldin and mf_meta read the text when present. A row that starts from
another table row (init_from "row:...", mf_meta from mf_foldin) fits that
start itself here (mf_meta's pretrainer: the same grid on the same
validation users).
"""

import json
import pathlib

from configs import melu
from configs.tables import coldstart
from metarec_jax.core import config_util
from metarec_jax.experiments import docs

TABLES = pathlib.Path(__file__).resolve().parents[1] / "docs" / "tables"


def committed_table(dataset: str) -> dict:
  with open(TABLES / f"coldstart_{dataset}.json", encoding="utf-8") as f:
    return json.load(f)


def seed0_choices(table: dict, row: str) -> dict:
  """What the table chose for seed 0 (its first seed): residual base
  priors and the row's grid point ({} for a table that chose none)."""
  return {**table.get("residual_base", {}).get("0", {}),
          **table.get("grid_chosen", {}).get(row, [{}])[0]}


def get_config(arg: str = "ml100k"):
  words = melu.parse_words(arg, coldstart.DATASETS + ("smoke",))
  dataset = next((d for d in coldstart.DATASETS if d in words), "ml100k")
  committed = committed_table(dataset)  # Read once.
  row = docs.selected(committed)  # The lowest mean validation MAE.
  # ,controls: the control rows' static values (tuned), should one win.
  table = coldstart.get_config(",".join(sorted(words | {"controls"})))
  tuned = {k: v for k, v in table.tuned.get(row, {}).items()
           if not (k == "init_from" and str(v).startswith("row:"))}
  # A control row names its base method in tuned (configs/tables).
  method = tuned.pop("method", row)
  c = config_util.with_overrides(table, {**tuned,
                                         **seed0_choices(committed, row)},
                                 method=method)
  with_text = any(r.endswith("_text") for r in committed["validation_mae"])
  c.data.text_features = with_text or row.endswith(("_text", "_lora"))
  c.seed = 0
  return c
