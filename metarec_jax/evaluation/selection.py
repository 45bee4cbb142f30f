"""The selection criterion: validation users only, never a test scenario."""

import numpy as np

from metarec_jax.core.errors import DataError

from metarec_jax.evaluation import metrics, predict


def validation_mae(method, params, prep, hparams, config) -> float:
  """Query MAE of the validation users' tasks.

  With config.validation_k_shots = (K, ...), the mean of that MAE over the
  full supports and the same tasks cut to each K (users with fewer than K
  support ratings left out of that K): selection then sees how a model does
  from a handful of ratings too, not only from the validation users' full
  supports (3-90 ratings; on ML-1M a median of 30, against 13 in warm).
  """
  tasks = prep.tasks["validation"]
  if not len(tasks):  # Selection would compare NaNs and keep the init.
    raise DataError(
        "no validation tasks: no validation user has 13..100 ratings of "
        "existing items; use more data or a larger "
        "--config.data.validation_fraction")
  sets = [tasks] + [tasks.k_shot(k)
                    for k in config.get("validation_k_shots", ())]
  maes = []
  for t in sets:
    # Cut supports pad to the config's buckets like full ones (masked
    # slots, the same predictions): one compiled shape per bucket, not one
    # more per K (#26: 14 of the quick start's compiles were these).
    pred = predict.clip(predict.predict_tasks(
        method, params, prep.tables, t, hparams, config.eval_batch_size,
        config.data.buckets), prep.rating_range)
    maes.append(metrics.compute_metrics(t.query_ratings, pred)["mae"])
  return float(np.mean(maes))
