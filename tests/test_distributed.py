"""scripts/main.py as two processes (jax.distributed over loopback, gloo CPU
collectives, 2 simulated devices each) gives the same results.json, byte
for byte, as one process with 4 simulated devices and as one device; and a
process that fails stops the other, which names it.

Every process runs under a deadline and is killed when the test ends.
"""

import os
import socket
import subprocess
import sys

import pytest

from tiny_run import flags_for, tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
  (returncode, stderr) of each, killing every one still running after the
  deadline or when any wait fails."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for c in cmds]
  try:
    out = []
    for p in procs:
      _, err = p.communicate(timeout=DEADLINE_S)
      out.append((p.returncode, err))
    return out
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()


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
  [(rc, err)] = _launch([_cmd(config, one)], devices=1)
  assert rc == 0, err[-3000:]
  [(rc, err)] = _launch([_cmd(config, four)], devices=4)
  assert rc == 0, err[-3000:]
  assert "Sharding task batches over 4 devices" in err
  port = _free_port()
  done = _launch([_distributed(config, two, port, p) for p in (0, 1)],
                 devices=2)
  for rc, err in done:
    assert rc == 0, err[-3000:]
    assert "Sharding task batches over 4 devices" in err
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
  (rc0, err0), (rc1, err1) = done
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
