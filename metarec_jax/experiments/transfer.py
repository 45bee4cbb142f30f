"""The transfer table: a source dataset's meta-learned parameters on a
target dataset (configs/tables/transfer.py).

reproduce(config, W) first trains config.source, an ordinary table, under
W/source (every source run is servable there), then the target table in W
with the table machinery of coldstart.py: its rows may start from the
source table's run of the same seed (tuned[row].init_from = "source:<row>",
resolved to W/source/runs/<row>/seed{seed}; train/init_from.py says what
carries over), and a row with num_steps = 0 is the source model used on the
target as it is (zero-shot through text and user features, adapted only by
each target user's support). Selection, floors and test scenarios are the
target's; nothing of the target enters the source's training.
"""

import os

from metarec_jax.core import config_util
from metarec_jax.experiments import coldstart

SOURCE = "source:"


def with_sources(config, workdir: str):
  """config with every "source:<row>" init_from made a path under
  W/source."""
  tuned = {}
  for row, over in config.tuned.items():
    over = dict(over.to_dict() if hasattr(over, "to_dict") else over)
    path = over.get("init_from", "")
    if path.startswith(SOURCE):
      over["init_from"] = os.path.join(
          os.path.abspath(workdir), "source", "runs",
          path.removeprefix(SOURCE), "seed{seed}")
    tuned[row] = over
  out = config_util.with_overrides(config, {})
  out.tuned = tuned
  return out


def reproduce(config, workdir: str) -> dict:
  """Trains (or resumes) the source table, then the target table; returns
  the target's table.json dict."""
  coldstart.reproduce(config.source, os.path.join(workdir, "source"))
  return coldstart.reproduce(with_sources(config, workdir), workdir)
