"""scripts/main.py as two processes (jax.distributed over loopback, gloo CPU
collectives, 2 simulated devices each) gives the same results.json, byte
for byte, as one process with 4 simulated devices and as one device; two
runs trained together, split over a 2 runs x 2 tasks mesh (one run per
process), match one device; and a process that fails stops the other,
which names it.

Every process runs under a deadline and is killed when the test ends.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from tiny_run import flags_for, tiny_config, write_dataset

import numpy as np
import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
DEADLINE_S = 240


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _cmd(config, workdir, *extra):
  return [sys.executable, os.path.join(ROOT, "scripts", "main.py"),
          "--config=" + os.path.join(ROOT, "configs", "melu.py") + ":csv,smoke",
          *flags_for(config), f"--workdir={workdir}", *extra]


def _launch(cmds: list, devices: int) -> list:
  """Runs the commands at once, each seeing `devices` CPU devices; returns
  (returncode, stdout, stderr) of each, killing every one still running
  after the deadline or when any wait fails. Output goes to files, not
  pipes: a process blocked on a full pipe would stall the others in their
  next collective."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  with tempfile.TemporaryDirectory() as logs:
    files = [(open(os.path.join(logs, f"{i}.out"), "w+"),
              open(os.path.join(logs, f"{i}.err"), "w+"))
             for i in range(len(cmds))]
    procs = [subprocess.Popen(c, env=env, stdout=o, stderr=e)
             for c, (o, e) in zip(cmds, files)]
    deadline = time.time() + DEADLINE_S  # One deadline for all of them.
    try:
      for p in procs:
        p.wait(timeout=max(1.0, deadline - time.time()))
    finally:
      for p in procs:
        if p.poll() is None:
          p.kill()
          p.wait()
    out = []
    for p, (o, e) in zip(procs, files):
      o.seek(0)
      e.seek(0)
      out.append((p.returncode, o.read(), e.read()))
      o.close()
      e.close()
    return out


def _distributed(config, workdir, port, process_id, **overrides):
  c = config.copy_and_resolve_references()
  for k, v in overrides.items():
    setattr(c.data, k, v)
  return _cmd(c, workdir, "--distributed", f"--coordinator=127.0.0.1:{port}",
              "--num_processes=2", f"--process_id={process_id}",
              "--heartbeat_timeout=5")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
  return tiny_config(write_dataset(str(tmp_path_factory.mktemp("data"))))


def test_two_processes_four_devices_and_one_device_agree(config, tmp_path):
  one, four, two = (tmp_path / n for n in ("one", "four", "two"))
  [(rc, _, err)] = _launch([_cmd(config, one)], devices=1)
  assert rc == 0, err[-3000:]
  [(rc, _, err)] = _launch([_cmd(config, four)], devices=4)
  assert rc == 0, err[-3000:]
  assert "x task batches over 4 devices" in err
  port = _free_port()
  done = _launch([_distributed(config, two, port, p) for p in (0, 1)],
                 devices=2)
  for rc, _, err in done:
    assert rc == 0, err[-3000:]
    assert "x task batches over 4 devices" in err
  expected = (one / "results.json").read_bytes()
  assert b'"mae"' in expected
  assert (four / "results.json").read_bytes() == expected
  assert (two / "results.json").read_bytes() == expected
  # Process 0 alone wrote: one TensorBoard event file, as one process does.
  assert len(os.listdir(two / "tensorboard")) == len(
      os.listdir(one / "tensorboard")) == 1


def test_a_failing_process_stops_the_other_and_is_named(config, tmp_path):
  port = _free_port()
  missing = str(tmp_path / "not_here.csv")
  done = _launch([_distributed(config, tmp_path / "w", port, 0),
                  _distributed(config, tmp_path / "w", port, 1,
                               ratings=missing)], devices=2)
  (rc0, _, err0), (rc1, _, err1) = done
  assert rc1 == 2 and "process 1 of 2: error:" in err1 and missing in err1
  # Process 0 stops too, naming process 1: with its error when its next
  # collective fails (cli.py reads the error process 1 left with the
  # coordinator), or, when the coordinator's error polling aborts it first,
  # as the task that stopped answering.
  assert rc0 != 0
  named = ("stopped because process 1: error:" in err0 and missing in err0)
  aborted = "fatal errors" in err0 and "tasks are unhealthy" in err0
  assert named or aborted, "\n".join(
      l for l in err0.splitlines() if not l.startswith("I"))[-3000:]
  assert not (tmp_path / "w" / "results.json").exists()


def _engine_runs(folder, devices: int, port: str = "") -> dict:
  """engine_runs_script.py's JSON (process 0's when distributed)."""
  write_dataset(str(folder / "data"))  # Before the processes read it.
  cmd = lambda *a: [sys.executable,
                    os.path.join(TESTS, "engine_runs_script.py"),
                    str(folder), *a]
  done = _launch([cmd(port, str(p)) for p in (0, 1)] if port else [cmd()],
                 devices)
  for rc, _, err in done:
    assert rc == 0, err[-3000:]
  return json.loads(done[0][1].strip().splitlines()[-1])


def test_two_runs_split_over_runs_and_tasks_match_one_device(tmp_path):
  # One process with 4 devices on the same mesh is test_sharding.py's.
  one = _engine_runs(tmp_path / "one", 1)
  two = _engine_runs(tmp_path / "two", 2, str(_free_port()))
  assert (one["devices"], two["devices"]) == (1, 4)
  assert len(one["records"]) == len(two["records"]) == 2
  assert len(one["params"]) == len(two["params"]) == 2
  for a, b in zip(one["records"], two["records"]):
    np.testing.assert_allclose([m for _, m in a["history"]],
                               [m for _, m in b["history"]], atol=1e-6)
  for pa, pb in zip(one["params"], two["params"]):
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
      np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-4)
  # The two runs differ (rates): the comparison can fail.
  assert one["records"][0]["history"] != one["records"][1]["history"]


def test_process_zero_refusing_the_workdir_stops_the_other_naming_it(
    config, tmp_path):
  """Process 0 alone claims the workdir; when it refuses (a finished run
  there), process 1 stops too, with process 0's reason."""
  w = tmp_path / "w"
  w.mkdir()
  (w / "results.json").write_text("{}")
  port = _free_port()
  t0 = time.time()
  (rc0, _, err0), (rc1, _, err1) = _launch(
      [_distributed(config, w, port, p) for p in (0, 1)], devices=2)
  assert rc0 == 2 and "holds a finished run" in err0, err0[-2000:]
  assert rc1 != 0 and "process 0" in err1, err1[-2000:]
  assert "holds a finished run" in err1, err1[-2000:]
  assert time.time() - t0 < 60
  assert (w / "results.json").read_text() == "{}"  # Nothing overwritten.
