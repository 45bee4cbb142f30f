"""The service's life: scripts/serve.py killed with SIGKILL under concurrent
writes loses no acknowledged event, and a refresh (scripts/refresh.py's
function) is switched to under load without a failed request."""

import concurrent.futures
import os
import shutil
import signal
import threading
import time

import jax
import numpy as np
import pytest

from metarec_jax.serving import recommender, refresh, versions
from metarec_jax.train import engine
from service_helpers import (Client, ThreadServer, free_port, start_process,
                             train_tiny)

WRITERS = 6


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return train_tiny(tmp_path_factory)


def _writer(port: int, w: int, stop: threading.Event, acked: list) -> None:
  """Posts new (user, item) ratings until stopped or the server dies;
  records each one the server acknowledged. No item is re-rated, so each
  acknowledged rating must be found as it was sent."""
  client = Client(port, timeout=10)
  for n in range(200):
    if stop.is_set():
      return
    user, item = f"w{w}-{n // 20}", 1 + n % 20 + 20 * (w % 2)
    rating = float(1 + (w + n) % 5)
    try:
      status, out = client.call("POST", f"/v1/users/{user}/ratings", {
          "ratings": [{"item_id": item, "rating": rating}]})
    except OSError:
      return
    if status == 200 and out == {"accepted": 1}:
      acked.append((user, item, rating))


def test_kill_9_loses_no_acknowledged_event(workdir, tmp_path):
  db = str(tmp_path / "events.sqlite")
  port = free_port()
  proc = start_process(workdir, db, port)
  acked, stop = [], threading.Event()
  try:
    threads = [threading.Thread(target=_writer, args=(port, w, stop, acked))
               for w in range(WRITERS)]
    for t in threads:
      t.start()
    deadline = time.time() + 60
    while len(acked) < 60 and time.time() < deadline:
      time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # Mid-write: writers still posting.
    proc.wait(timeout=30)
  finally:
    stop.set()
    if proc.poll() is None:
      proc.kill()
  for t in threads:
    t.join(timeout=30)
  assert len(acked) >= 60
  port = free_port()
  proc = start_process(workdir, db, port)
  try:
    client = Client(port)
    for user in sorted({u for u, _, _ in acked}):
      stored = {(r["item_id"], r["rating"]) for r in client.ok(
          "GET", f"/v1/users/{user}/ratings")["ratings"]}
      mine = {(i, r) for u, i, r in acked if u == user}
      assert mine <= stored, (user, mine - stored)
    assert client.ok("GET", "/healthz")["events"] >= len(acked)
  finally:
    proc.kill()
    proc.wait(timeout=30)


def test_refresh_switches_versions_under_load(workdir, tmp_path):
  run = str(tmp_path / "run")
  shutil.copytree(workdir, run)
  db = str(tmp_path / "events.sqlite")
  with ThreadServer(run, db, poll_s=0.1) as server:
    client = Client(server.port)
    for u in range(3):  # Users with enough ratings to be tasks.
      client.ok("POST", f"/v1/users/r{u}/ratings", {"ratings": [
          {"item_id": i, "rating": float(1 + (i * u) % 5)}
          for i in range(1 + u, 31 + u)]})
    seen, stop = [], threading.Event()

    def load(n: int) -> None:
      c = Client(server.port)
      while not stop.is_set():
        status, out = c.call("GET", f"/v1/users/r{n % 3}/recommendations"
                             "?k=5")
        seen.append((status, out.get("model_version") if status == 200
                     else out))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      jobs = [pool.submit(load, n) for n in range(4)]
      record = refresh.refresh(run, db, steps=3)
      deadline = time.time() + 30
      while (client.ok("GET", "/healthz")["model_version"] != 1
             and time.time() < deadline):
        time.sleep(0.05)
      switched = len(seen)
      time.sleep(0.5)
      stop.set()
      for job in jobs:
        job.result()
  assert record["version"] == 1 and record["db_tasks"] == 3
  assert versions.latest(run) == 1
  assert all(status == 200 for status, _ in seen), seen[:5]
  versions_seen = [v for _, v in seen]
  assert versions_seen[0] == 0 and versions_seen[-1] == 1
  assert set(versions_seen[switched + 4:]) == {1}  # 4 may be in flight.


def test_an_engine_run_starts_from_given_params(workdir, tmp_path):
  """engine.Run.init_params (what a refresh continues from) is the train
  state's starting point; without it the seed's init is."""
  rec = recommender.Recommender.load(workdir)
  given = jax.tree.map(lambda x: np.asarray(x) + 0.5, rec.params)
  runs = [engine.Run(rec.config, rec.prep, 0, str(tmp_path / "a"), rec.method,
                     init_params=given),
          engine.Run(rec.config, rec.prep, 0, str(tmp_path / "b"),
                     rec.method)]
  group = engine.Group(rec.method, runs, rec.config, str(tmp_path))
  start = [engine.take(group.states.params, i) for i in range(2)]
  for a, b in zip(jax.tree.leaves(start[0]), jax.tree.leaves(given)):
    np.testing.assert_array_equal(a, b)
  fresh = jax.tree.leaves(rec.method.init(
      jax.random.split(jax.random.fold_in(jax.random.key(0), 1))[0],
      jax.tree.map(np.asarray, rec.prep.tables)))
  # The engine's init is one jitted program; this one runs eagerly: the
  # same draws, up to float rounding (XLA fuses the jitted transforms).
  for a, b in zip(jax.tree.leaves(start[1]), fresh):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
