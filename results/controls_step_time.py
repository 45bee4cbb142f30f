"""Step time of each overfitting control (train/controls.py), interleaved in
one process: the table's ML-100K meta-step (configs/tables/coldstart.py: 5
seeds vmapped, their own batches), one compiled step per variant, and each
round calls every variant once on the same batch, so the other jobs' load
hits all variants alike. Writes the medians (wall and process CPU ms) to
the path given (default results/controls_step_time.json).

  PYTHONPATH=. .venv/bin/python results/controls_step_time.py [out.json]
"""

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from configs.tables import coldstart as table
from metarec_jax.core import io
from metarec_jax.data import pipeline
from metarec_jax.experiments import coldstart
from metarec_jax.train import controls, engine, step

ROUNDS = 10
STRENGTHS = {"feature_dropout": {"feature_dropout": 0.1},
             "augment_support_k": {"augment_support_k": (1, 3, 5, 10, 20)},
             "adversarial": {"adversarial_eps": 0.01},
             "text_dropout": {"text_dropout": 0.1}}
STRENGTHS["all"] = {k: v for n in ("feature_dropout", "augment_support_k",
                                   "adversarial") for k, v in
                    STRENGTHS[n].items()}
CASES = (("", ("finetune", "melu_fo"),
          ("off", "feature_dropout", "augment_support_k", "adversarial",
           "all")),
         ("text", ("finetune_text", "melu_fo_text"), ("off", "text_dropout")))


def time_method(config, preps, name, variants) -> dict:
  c = coldstart.method_config(config, name)
  seeds = sorted(preps)
  fns, group = {}, None
  for v in variants:
    cv = c.copy_and_resolve_references()
    for k, x in STRENGTHS.get(v, {}).items():
      cv[k] = x
    runs = coldstart.row_runs(cv, preps, [(s, 0) for s in seeds], "")
    group = engine.Group(runs[0].init_method, runs, cv, "")
    fns[v] = (step.make_step(runs[0].init_method, c.clip_norm,
                             controls=controls.of(r.config for r in runs)),
              group.hparams, jax.tree.map(jnp.copy, group.states))
  batches = [group.batch(i) for i in range(ROUNDS + 1)]
  times = {v: [] for v in variants}
  for i, b in enumerate(batches):
    for v, (fn, hp, states) in fns.items():
      w, t = time.time(), time.process_time()
      states, m = fn(states, group.tables, b, hp)
      jax.block_until_ready(m)
      if i:  # Call 0 compiles.
        times[v].append((1e3 * (time.time() - w),
                         1e3 * (time.process_time() - t)))
      fns[v] = (fn, hp, states)
  out = {}
  for v, x in times.items():
    x = np.asarray(x)
    out[v] = {"wall_ms_median": round(float(np.median(x[:, 0])), 1),
              "cpu_ms_median": round(float(np.median(x[:, 1])), 1)}
  for v in variants:
    out[v]["cpu_ratio_to_off"] = round(
        out[v]["cpu_ms_median"] / out["off"]["cpu_ms_median"], 2)
  return out


def main(path: str) -> None:
  result = {"what": __doc__.split("\n\n")[0], "rounds": ROUNDS,
            "strengths": STRENGTHS, "load_avg_start": os.getloadavg(),
            "cpus": os.cpu_count(), "methods": {}}
  for words, methods, variants in CASES:
    config = table.get_config(",".join(["ml100k"] + ([words] if words
                                                     else [])))
    preps = {s: pipeline.prepare(config.data, s) for s in config.seeds}
    for name in methods:
      result["methods"][name] = time_method(config, preps, name, variants)
      print(name, result["methods"][name], flush=True)
  result["load_avg_end"] = os.getloadavg()
  io.write_json(path, result)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else
       "results/controls_step_time.json")
