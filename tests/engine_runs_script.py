"""Trains two runs of tiny MeLU together (engine.train) and prints their
records and final params as JSON: run by tests/test_distributed.py on 1
device, 4 simulated devices, and as 2 processes of 2 (argv: folder, and
coordinator port, process id for the last). Not a test module."""

import json
import sys

import jax
import numpy as np

from metarec_jax.core import compile_cache
from metarec_jax.data import pipeline
from metarec_jax.meta import registry
from metarec_jax.train import engine, sharding
from tiny_run import tiny_config


def main(folder: str, port: str = "", process_id: str = "") -> None:
  if port:
    sharding.initialize_distributed(f"127.0.0.1:{port}", 2, int(process_id),
                                    heartbeat_timeout=5)
  compile_cache.enable()
  config = tiny_config(f"{folder}/data")  # Written by the test, once.
  prep = pipeline.prepare(config.data, 0)
  method = registry.build(config, prep)
  b = config.copy_and_resolve_references()
  b.outer_lr, b.inner_lr = 3e-3, 0.2
  runs = [engine.Run(c, prep, s, f"{folder}/run{s}", registry.build(c, prep))
          for c, s in ((config, 0), (b, 1))]
  trained = engine.train(method, runs, config, f"{folder}/group")
  print(json.dumps({
      "devices": jax.device_count(), "records": trained.records,
      "params": [[np.asarray(x).ravel().tolist() for x in jax.tree.leaves(p)]
                 for p in trained.final_params]}))


if __name__ == "__main__":
  main(*sys.argv[1:])
