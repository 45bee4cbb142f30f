r"""The item warm-up table: new items from their first K ratings.

Usage:
  python scripts/reproduce_table.py --config=configs/tables/warmup.py:ml100k \
    --workdir=workdirs/warmup_ml100k
  METAREC_ML1M_DIR=/path/to/ml-1m python \
    scripts/reproduce_table.py --config=configs/tables/warmup.py:ml1m \
    --workdir=workdirs/warmup_ml1m
  python scripts/reproduce_table.py \
    --config=configs/tables/warmup.py:ml100k,smoke --workdir=/tmp/warmup_s

Tasks are items (data/item_world.py): an item task's support is K ratings
of one item by existing users (its earliest K where the data has
timestamps), its query 10 other ratings of it. Meta-training: existing
items; validation: a seeded tenth of them; test (item_warmup): the new
items. Every row of the cold-start table runs on them unchanged, beside the
warm-up floors (support mean, + each query user's bias, ...). The table
reports K = 5; curve.json reports K in {1, 3, 5, 10, 20} for the three
rows best on validation, selection averaging the validation MAE over those
K (docs/protocol.md, "Item warm-up").
"""

from configs.tables import coldstart
from metarec_jax.data import item_world
from metarec_jax.meta import registry

DATASETS = ("ml100k", "ml1m", "bookcrossing")
# Every method of the cold-start table (no text rows: the item text is on
# the task's side here), then the item warm-up methods of the literature.
METHODS = coldstart.METHODS + ("metaemb", "mwuf")


def get_config(arg: str = "ml100k"):
  c = coldstart.get_config(arg)  # Seeds, schedule, residual, priors.
  c.data.task_axis = "item"
  c.methods = tuple(m for m in METHODS if m in registry.BUILDERS)
  c.catalogue = False  # It ranks items for a user: the user world's metric.
  c.batch_rows = False  # A few thousand users and items: embed them all.
  # Supports hold 1..20 ratings (validation, test) or up to 20 (training
  # chunks): two compiled shapes.
  c.data.buckets = (8, 20)
  c.curve_ks = item_world.WARMUP_KS
  c.validation_k_shots = c.curve_ks
  if "smoke" in arg.split(","):
    c.curve_ks = (1, 5)
    c.validation_k_shots = c.curve_ks
  return c

