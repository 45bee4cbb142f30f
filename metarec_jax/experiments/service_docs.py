"""docs/service.md's generated blocks: the recipe's real responses and the
measured serving table.

`example_block(root)` starts scripts/serve.py on the quick start's run with
a fresh event database on a free loopback port, sends the recipe's
requests (shown as the curl commands a reader types), and returns the
commands with the responses the service gave. `perf_table(results)` is
results/serving_cpu.json (scripts/loadtest.py) as markdown.
"""

import http.client
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

QUICKSTART = "workdirs/quickstart"
RESULTS = "results/serving_cpu.json"
PORT = 8000
# The recipe: (method, path, JSON body or None).
REQUESTS = (
    ("POST", "/v1/users/alice/ratings", {"ratings": [
        {"item_id": 50, "rating": 5}, {"item_id": 181, "rating": 5},
        {"item_id": 121, "rating": 2}]}),
    ("PUT", "/v1/items/2001", {"title": "A film added today",
                               "text": "A film added today",
                               "features": {"genre": ["Sci-Fi", "War"]}}),
    ("GET", "/v1/users/alice/recommendations?k=2&explain=true", None),
    ("GET", "/healthz", None),
)


def curl(method: str, path: str, body) -> str:
  """The command a reader types for one request."""
  parts = ["curl", "-s"] + (["-X", method] if method != "GET" else [])
  parts.append(f"localhost:{PORT}{path}")
  if body is not None:
    parts += ["-H", "Content-Type: application/json", "-d",
              json.dumps(body)]
  return " ".join(shlex.quote(p) for p in parts)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _request(port: int, method: str, path: str, body):
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
  data = None if body is None else json.dumps(body)
  conn.request(method, path, body=data,
               headers={"Content-Type": "application/json"})
  resp = conn.getresponse()
  out = json.loads(resp.read())
  conn.close()
  return out


def _wait(port: int, proc, timeout: float = 600) -> None:
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      raise RuntimeError("scripts/serve.py exited: "
                         + proc.stderr.read().decode()[-2000:])
    try:
      _request(port, "GET", "/healthz", None)
      return
    except OSError:
      time.sleep(0.5)
  raise RuntimeError("scripts/serve.py did not answer")


def example_block(root: str) -> str:
  """The recipe's commands and the responses of a fresh service."""
  port = _free_port()
  with tempfile.TemporaryDirectory() as tmp:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(root, "scripts", "serve.py"),
         f"--workdir={os.path.join(root, QUICKSTART)}",
         f"--db={os.path.join(tmp, 'events.sqlite')}", f"--port={port}"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
      _wait(port, proc)
      lines = []
      for method, path, body in REQUESTS:
        lines += [curl(method, path, body),
                  json.dumps(_request(port, method, path, body))]
    finally:
      proc.kill()
      proc.wait()
  return "```bash\n" + "\n".join(lines) + "\n```\n"


def perf_table(results: dict, source: str) -> str:
  """Markdown: p50/p99 ms and requests/s per kind and client count."""
  lines = ["| requests | clients | p50 ms | p99 ms | requests/s |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for kind in ("recommendations", "ratings"):
    for clients, r in sorted(results[kind].items(), key=lambda c: int(c[0])):
      lines.append(f"| {kind} | {clients} | {r['p50_ms']:.1f} | "
                   f"{r['p99_ms']:.1f} | {r['rps']:.0f} |")
  load = ", ".join(f"{x:.1f}" for x in results["loadavg_before"])
  return ("\n".join(lines) + f"\n\nFrom [{source}](../{source}): "
          f"{results['duration_s']:g} s per row on {results['cpu_count']} "
          f"cores, load average {load} before (other jobs share the "
          f"machine); {results['throughput_ratio']:g}x the 1-client "
          "recommendation throughput at the most clients.\n")


def summary_line(results: dict, source: str) -> str:
  """One line for the README: latency at one client, throughput at the
  most clients, from results/serving_cpu.json."""
  rec = results["recommendations"]
  counts = sorted(rec, key=int)
  one, most = rec[counts[0]], rec[counts[-1]]
  write = results["ratings"][counts[0]]
  return (f"Recommendations: p50 {one['p50_ms']:.1f} ms at {counts[0]} "
          f"client, {most['rps']:.0f} requests/s at {counts[-1]} clients "
          f"({results['throughput_ratio']:g}x one client's "
          f"{one['rps']:.0f}); a rating write: p50 {write['p50_ms']:.1f} ms "
          f"([{source}]({source}), {results['cpu_count']} shared cores).\n")
