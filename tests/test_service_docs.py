"""docs/service.md shows what the committed code and files give: the
serving table is results/serving_cpu.json, and the recipe block shows each
request's curl command followed by the service's JSON response."""

import json
import pathlib

import pytest

from metarec_jax.experiments import docs, service_docs
from metarec_jax.serving import loadtest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = (ROOT / "docs" / "service.md").read_text()


def test_serving_table_is_generated_from_the_committed_results():
  results = json.loads((ROOT / service_docs.RESULTS).read_text())
  assert docs.block(TEXT, "service_perf") == service_docs.perf_table(
      results, service_docs.RESULTS)
  for kind in ("recommendations", "ratings"):
    for r in results[kind].values():
      assert r["errors"] == 0 and r["requests"] > 0
      assert r["p50_ms"] <= r["p99_ms"]


def test_readme_line_names_the_measured_numbers():
  results = json.loads((ROOT / service_docs.RESULTS).read_text())
  line = service_docs.summary_line(results, service_docs.RESULTS)
  one, most = results["recommendations"]["1"], results["recommendations"]["32"]
  assert f"p50 {one['p50_ms']:.1f} ms at 1 client" in line
  assert f"{most['rps']:.0f} requests/s at 32 clients" in line
  assert most["rps"] / one["rps"] == pytest.approx(
      results["throughput_ratio"], abs=0.01)


def test_recipe_shows_each_command_and_a_real_response():
  body = docs.block(TEXT, "service_example")
  lines = body.strip("`\n").removeprefix("bash\n").splitlines()
  assert len(lines) == 2 * len(service_docs.REQUESTS)
  for (method, path, obj), command, response in zip(
      service_docs.REQUESTS, lines[::2], lines[1::2]):
    assert command == service_docs.curl(method, path, obj)
    json.loads(response)
  accepted, item, recs, health = (json.loads(r) for r in lines[1::2])
  assert accepted == {"accepted": 3} and item["item_id"] == 2001
  assert len(recs["items"]) == 2 and all(
      x["explanation"]["ratings"] for x in recs["items"])
  assert health["status"] == "ok" and health["events"] == 4


def test_the_load_test_only_targets_this_machine():
  assert loadtest.loopback_address("http://127.0.0.1:8123") == (
      "127.0.0.1", 8123)
  assert loadtest.loopback_address("http://[::1]:80")[1] == 80
  for url in ("http://10.0.0.1:80", "http://example.com:80",
              "https://127.0.0.1:80", "http://127.0.0.1"):
    with pytest.raises(loadtest.ServingError, match="this machine only"):
      loadtest.loopback_address(url)
