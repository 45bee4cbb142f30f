"""The recommendation service under test: a tiny trained run, a server on
a free loopback port (in a thread, or a subprocess that can be killed), and
a JSON client. Shared by the service tests (not a test module)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import uvicorn

from metarec_jax.serving import item_tasks
from metarec_jax.serving.api import app as app_lib
from metarec_jax.train import experiment
from tiny_run import tiny_config, write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_RUNS = {}  # residual -> workdir: one training per test process


def train_tiny(tmp_path_factory, residual: bool = False) -> str:
  """A finished MeLU run on the tiny CSV data (seconds); residual: on the
  item-mean floor (reads the item_mean table). Tests must not write into
  it (copy it first), since the service test modules share it."""
  if residual not in _RUNS:
    folder = write_dataset(str(tmp_path_factory.mktemp("data")))
    workdir = str(tmp_path_factory.mktemp("run"))
    config = tiny_config(folder)
    config.model.residual = residual
    experiment.train_and_evaluate(config, workdir)
    _RUNS[residual] = workdir
  return _RUNS[residual]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Client:
  """JSON over one keep-alive loopback connection (reconnects on error)."""

  def __init__(self, port: int, timeout: float = 60.0):
    self.port, self.timeout, self._conn = port, timeout, None

  def raw(self, method: str, path: str, body: bytes | None = None,
          headers: dict | None = None):
    """(status, parsed JSON or text) of one request."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    for attempt in range(2):
      if self._conn is None:
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=self.timeout)
      try:
        self._conn.request(method, path, body=body, headers=headers)
        resp = self._conn.getresponse()
        data = resp.read()
        break
      except (ConnectionError, http.client.HTTPException):
        self._conn.close()
        self._conn = None
        if attempt:
          raise
    if resp.getheader("connection", "").lower() == "close":
      self._conn.close()
      self._conn = None
    try:
      return resp.status, json.loads(data)
    except ValueError:
      return resp.status, data.decode("utf-8", "replace")

  def call(self, method: str, path: str, obj=None, headers=None):
    body = None if obj is None else json.dumps(obj).encode()
    return self.raw(method, path, body, headers)

  def ok(self, method: str, path: str, obj=None, headers=None):
    status, out = self.call(method, path, obj, headers)
    assert status == 200, (status, out)
    return out


class ThreadServer:
  """The app served by uvicorn in a thread of this process."""

  def __init__(self, workdir: str, db: str, poll_s: float = 0.2):
    self.port = free_port()
    self.app = app_lib.create_app(
        lambda: item_tasks.open_service(workdir, db), poll_s=poll_s,
        warmup=False)
    self.server = uvicorn.Server(uvicorn.Config(
        self.app, host="127.0.0.1", port=self.port, log_level="warning",
        access_log=False))
    self.thread = threading.Thread(target=self.server.run, daemon=True)

  def __enter__(self) -> "ThreadServer":
    self.thread.start()
    deadline = time.time() + 300
    while not self.server.started:
      if time.time() > deadline or not self.thread.is_alive():
        raise RuntimeError("the service did not start")
      time.sleep(0.05)
    return self

  @property
  def service(self):
    return self.app.state.service

  def __exit__(self, *exc) -> None:
    self.server.should_exit = True
    self.thread.join(timeout=60)


def start_process(workdir: str, db: str, port: int) -> subprocess.Popen:
  """scripts/serve.py in its own process; waits until /healthz answers."""
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "scripts", "serve.py"),
       f"--workdir={workdir}", f"--db={db}", f"--port={port}",
       "--nowarmup"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  client, deadline = Client(port, timeout=5), time.time() + 300
  while time.time() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(proc.stderr.read().decode()[-2000:])
    try:
      if client.call("GET", "/healthz")[0] == 200:
        return proc
    except OSError:
      time.sleep(0.2)
  proc.kill()
  raise RuntimeError("scripts/serve.py did not answer /healthz")
