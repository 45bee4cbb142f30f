r"""The transfer table: ML-1M's parameters on ML-100K or Book-Crossing.

Usage:
  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/reproduce_table.py \
    --config=configs/tables/transfer.py:ml100k --workdir=workdirs/transfer_ml100k
  METAREC_ML1M_DIR=/path/to/ml-1m python scripts/reproduce_table.py \
    --config=configs/tables/transfer.py:bookcrossing \
    --workdir=workdirs/transfer_bookcrossing
Add `,smoke` for seconds.

The source table (ML-1M, the cold-start table's schedule, 5 seeds) trains
first under W/source; target seed s may start from source seed s
(metarec_jax/experiments/transfer.py). Rows, for each method of METHODS:
  <m>_target_only        trained on the target alone;
  <m>_source_only        the source run as it is (no target training):
                         zero-shot through item text and user features,
                         adapted by each target user's support;
  <m>_source_then_target the source run, then meta-trained on the target.
Both datasets use the parts they share, so every leaf but the unshared
field rows has the same shape: the item vector is the projected MiniLM
text embedding (+ genres, ML-100K), the user vector the user fields both
have (values matched by name: train/init_from.py); no item-id embeddings.
Ratings: residual models see residuals / rating_scale (meta/residual.py),
the Book-Crossing 1..10 scale divided by 2.25, so a residual means the
same to the shared parameters in both datasets; base, floors and metrics
stay in each dataset's own units.
"""

from configs.tables import coldstart
from metarec_jax.meta import registry

TARGETS = ("ml100k", "bookcrossing")
WORDS = TARGETS + ("smoke",)
# The best text row of the ML-1M cold-start table, and the closed-form head.
METHODS = ("finetune_text", "ridge_text")
# What source and target share: (item fields, user fields). ML-1M's users
# have gender, age, occupation (codes), zip digit; ML-100K's the same
# fields (occupation names: no value in common); Book-Crossing's age and
# country. ML-1M's items have genre, rating class, director, actors;
# ML-100K's genre and year; Book-Crossing's author, publisher, year.
SHARED = {"ml100k": (("genre",), ("age", "gender", "occupation", "zip")),
          "bookcrossing": ((), ("age",))}
# The width of the rating scale over MovieLens' (4 = 5 - 1).
RATING_SCALE = {"ml100k": 1.0, "bookcrossing": 9.0 / 4.0}
ROWS = ("target_only", "source_only", "source_then_target")


def _shared(c, target: str):
  c.data.item_fields, c.data.user_fields = SHARED[target]
  c.model.item_id_embeddings = False
  c.curve_ks = ()  # The cold-start tables carry the curves.
  return c


def rows(methods) -> tuple:
  return tuple(f"{m}_{r}" for m in methods for r in ROWS)


def get_config(arg: str = "ml100k"):
  words = set(arg.split(",")) if arg else set()
  unknown = words - set(WORDS)
  target = next((t for t in TARGETS if t in words), None)
  if unknown or target is None:
    raise ValueError(f"config argument {arg!r}: one target of {TARGETS} "
                     "and optionally smoke")
  smoke = ",smoke" if "smoke" in words else ""
  # ridge_text once the closed-form method is registered.
  methods = tuple(m for m in METHODS
                  if m.removesuffix("_text") in registry.BUILDERS)
  source = _shared(coldstart.get_config(f"ml1m,text{smoke}"), target)
  source.methods = methods
  c = _shared(coldstart.get_config(f"{target},text{smoke}"), target)
  c.model.rating_scale = RATING_SCALE[target]
  c.methods = rows(methods)
  c.tuned = {}
  for m in methods:
    c.tuned[f"{m}_target_only"] = {"method": m}
    c.tuned[f"{m}_source_only"] = {"method": m, "init_from": f"source:{m}",
                                   "num_steps": 0}
    c.tuned[f"{m}_source_then_target"] = {"method": m,
                                          "init_from": f"source:{m}"}
  grid = c.grid.to_dict()
  for m in methods:  # The rows take their method's grid.
    for r in rows((m,)):
      if m in grid:
        grid[r] = grid[m]
  c.grid = grid
  c.source = source
  return c
