"""A bounded load test of a running service, on loopback only.

For each client count, `clients` keep-alive connections (one asyncio loop,
so the client costs little CPU beside the server) send requests back to
back for `duration` seconds or `max_requests` in all, whichever comes
first: recommendations (each client a user with RATED ratings), then rating
writes (one rating per request). Reports p50/p99 latency and requests per
second per kind and client count, with the machine's load average, since a
shared machine's other jobs slow the server too.
"""

import asyncio
import ipaddress
import json
import os
import time
import urllib.parse

import numpy as np

from metarec_jax.core.errors import ServingError

RATED = 10


def loopback_address(url: str) -> tuple[str, int]:
  """(host, port) of an http URL on this machine; anything else refused."""
  parts = urllib.parse.urlsplit(url)
  host = parts.hostname or ""
  try:
    local = host == "localhost" or ipaddress.ip_address(host).is_loopback
  except ValueError:
    local = False
  if parts.scheme != "http" or not local or not parts.port:
    raise ServingError(f"--url={url}: must be http://127.0.0.1:PORT (or "
                       "localhost, [::1]); the load test sends traffic to "
                       "this machine only.")
  return host, parts.port


class Connection:
  """One keep-alive HTTP/1.1 connection."""

  def __init__(self, host: str, port: int):
    self.host, self.port = host, port
    self.reader = self.writer = None

  async def request(self, method: str, path: str, obj=None):
    if self.writer is None:
      self.reader, self.writer = await asyncio.open_connection(self.host,
                                                               self.port)
    body = b"" if obj is None else json.dumps(obj).encode()
    self.writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}"
        "\r\n\r\n".encode() + body)
    await self.writer.drain()
    status = int((await self.reader.readline()).split()[1])
    length = 0
    while (line := await self.reader.readline()) not in (b"\r\n", b""):
      name, _, value = line.decode().partition(":")
      if name.lower() == "content-length":
        length = int(value)
    data = await self.reader.readexactly(length)
    return status, json.loads(data) if data else None

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()


async def _client(conn, send, deadline: float, budget: list, out: list):
  n = 0
  while time.perf_counter() < deadline and budget[0] > 0:
    budget[0] -= 1
    t0 = time.perf_counter()
    status, _ = await send(conn, n)
    out.append((1e3 * (time.perf_counter() - t0), status == 200))
    n += 1


async def _level(host, port, clients: int, kind: str, items: list,
                 duration: float, max_requests: int, tag: str) -> dict:
  conns = [Connection(host, port) for _ in range(clients)]
  users = [f"load-{tag}-{kind}-{clients}-{c}" for c in range(clients)]
  for c, (conn, user) in enumerate(zip(conns, users)):
    await conn.request("POST", f"/v1/users/{user}/ratings", {"ratings": [
        {"item_id": items[(c + j) % len(items)], "rating": 1.0 + j % 5}
        for j in range(RATED)]})

  def sender(user):
    if kind == "recommendations":
      return lambda conn, n: conn.request(
          "GET", f"/v1/users/{user}/recommendations?k=10")
    return lambda conn, n: conn.request(
        "POST", f"/v1/users/{user}/ratings", {"ratings": [
            {"item_id": items[n % len(items)], "rating": 1.0 + n % 5}]})

  out, budget = [], [max_requests]
  t0 = time.perf_counter()
  await asyncio.gather(*[_client(conn, sender(u), t0 + duration, budget, out)
                         for conn, u in zip(conns, users)])
  wall = time.perf_counter() - t0
  for conn in conns:
    conn.close()
  ms = np.array([m for m, _ in out])
  return {"requests": len(out), "errors": sum(not ok for _, ok in out),
          "seconds": round(wall, 3), "rps": round(len(out) / wall, 1),
          "p50_ms": round(float(np.percentile(ms, 50)), 2),
          "p99_ms": round(float(np.percentile(ms, 99)), 2)}


async def _run(url: str, clients: list, duration: float,
               max_requests: int) -> dict:
  host, port = loopback_address(url)
  probe = Connection(host, port)
  _, health = await probe.request("GET", "/healthz")
  _, found = await probe.request("GET", "/v1/items?limit=100")
  probe.close()
  items = [x["item_id"] for x in found]
  tag = f"{os.getpid()}-{int(time.time())}"
  out = {"url": url, "model_version": health["model_version"],
         "duration_s": duration, "max_requests": max_requests,
         "cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg(),
         "rated_per_user": RATED}
  for kind in ("recommendations", "ratings"):
    out[kind] = {}
    for c in clients:
      out[kind][str(c)] = await _level(host, port, c, kind, items, duration,
                                       max_requests, tag)
  out["loadavg_after"] = os.getloadavg()
  rec = out["recommendations"]
  first, last = str(clients[0]), str(clients[-1])
  out["throughput_ratio"] = round(rec[last]["rps"] / rec[first]["rps"], 2)
  return out


def run(url: str, clients: list, duration: float,
        max_requests: int = 20000) -> dict:
  """The load test's results (see the module docstring)."""
  if duration <= 0 or duration > 120 or not clients or min(clients) < 1 or \
      max(clients) > 256:
    raise ServingError("--duration must be in (0, 120] seconds and "
                       "--clients counts in 1..256.")
  return asyncio.run(_run(url, sorted(clients), duration, max_requests))
