"""The recommendation service over HTTP (a uvicorn thread on a loopback
port, one tiny trained run for the module): served scores and explanations
equal recommend.py's, explanations are exact re-adaptations and
re-scorings, added items are scored at once, replaying the events gives the
same recommendations, bad and hostile input changes nothing, writes can
need a token, concurrent requests share model calls."""

import concurrent.futures
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from metarec_jax.evaluation import predict
from metarec_jax.serving import recommender, service as service_lib
from service_helpers import ROOT, Client, ThreadServer, train_tiny

RATINGS = [(1, 5.0), (2, 4.0), (7, 1.0), (10, 3.0), (12, 5.0), (20, 2.0)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return train_tiny(tmp_path_factory, residual=True)


@pytest.fixture(scope="module")
def server(workdir, tmp_path_factory):
  db = str(tmp_path_factory.mktemp("db") / "events.sqlite")
  with ThreadServer(workdir, db) as s:
    yield s


@pytest.fixture(scope="module")
def client(server):
  return Client(server.port)


@pytest.fixture(scope="module")
def rec(workdir):
  return recommender.Recommender.load(workdir)


def _post(client, user, ratings):
  return client.ok("POST", f"/v1/users/{user}/ratings", {"ratings": [
      {"item_id": i, "rating": r} for i, r in ratings]})


def test_served_scores_and_explanations_are_recommend_pys(client, rec,
                                                         workdir, tmp_path):
  assert _post(client, "cli", RATINGS) == {"accepted": len(RATINGS)}
  got = client.ok("GET", "/v1/users/cli/recommendations?k=100&explain=true")
  assert got["model_version"] == 0
  want = rec.top_k(rec.adapt(RATINGS), 100)
  assert [x["item_id"] for x in got["items"]] == [i for i, *_ in want]
  np.testing.assert_allclose([x["raw_score"] for x in got["items"]],
                             [raw for *_, raw in want], atol=1e-5)
  path = tmp_path / "r.csv"
  path.write_text("item_id,rating\n" + "".join(f"{i},{r}\n"
                                               for i, r in RATINGS))
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "recommend.py"),
       f"--workdir={workdir}", f"--ratings={path}", "--k=20",
       "--format=json", "--explain"], capture_output=True, text=True,
      timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  cli = json.loads(proc.stdout)["items"]
  for mine, theirs in zip(got["items"], cli):
    assert mine["item_id"] == theirs["item_id"]
    assert mine["score"] == pytest.approx(theirs["score"], abs=1e-4)
    _same_explanation(mine["explanation"], theirs["explanation"])


def _same_explanation(a, b) -> None:
  """Explanations equal up to float rounding."""
  for key in ("ratings", "features"):
    assert len(a[key]) == len(b[key])
    for x, y in zip(a[key], b[key]):
      change = next(k for k in x if k.startswith("change"))
      assert {k: v for k, v in x.items() if k != change} == {
          k: v for k, v in y.items() if k != change}
      assert x[change] == pytest.approx(y[change], abs=1e-5)


def test_a_user_of_the_data_gets_their_side_features(client, rec):
  known = rec.prep.users.labels([0])[0]
  for user in (known, f"web-{known}"):
    _post(client, user, RATINGS[:3])
  got = {u: client.ok("GET", f"/v1/users/{u}/recommendations?k=100")
         for u in (known, f"web-{known}")}
  for u, features in ((known, known), (f"web-{known}", None)):
    want = rec.top_k(rec.adapt(RATINGS[:3], user=features), 100)
    np.testing.assert_allclose([x["raw_score"] for x in got[u]["items"]],
                               [raw for *_, raw in want], atol=1e-5)
  assert got[known] != got[f"web-{known}"]


def test_leave_one_out_changes_are_exact_readaptations(client, rec):
  _post(client, "loo", RATINGS)
  got = client.ok("GET", "/v1/users/loo/recommendations?k=3&explain=true")
  full = rec.adapt(RATINGS).scores
  for item in got["items"]:
    row = int(rec.item_index([item["item_id"]])[0])
    reasons = item["explanation"]["ratings"]
    assert len(reasons) == 3
    for reason in reasons:
      left = [(i, r) for i, r in RATINGS if i != reason["item_id"]]
      without = rec.adapt(left).scores[row]
      assert reason["change_if_left_out"] == pytest.approx(
          without - full[row], abs=1e-5)
    changes = [abs(r["change_if_left_out"]) for r in reasons]
    assert changes == sorted(changes, reverse=True) and changes[0] > 1e-4


def test_feature_removal_changes_are_exact_rescorings(client, rec, server):
  _post(client, "abl", RATINGS)
  got = client.ok("GET", "/v1/users/abl/recommendations?k=3&explain=true")
  support = (rec.item_index([i for i, _ in RATINGS]),
             np.array([r for _, r in RATINGS], np.float32))
  batch = rec.serving_batch([support])
  served = predict.predict_batch(rec.method, rec.params, rec.tables, batch,
                                 rec.hparams)[0]
  vocab = server.service.items.fields
  for item in got["items"]:
    row = int(rec.item_index([item["item_id"]])[0])
    for reason in item["explanation"]["features"]:
      tables = dict(rec.tables)
      tables["item"] = {k: v.copy() for k, v in rec.tables["item"].items()}
      table = tables["item"][reason["field"]]
      col = list(table[row]).index(vocab[reason["field"]][reason["value"]])
      table[row, col] = 0
      ablated = predict.predict_batch(rec.method, rec.params, tables, batch,
                                      rec.hparams)[0]
      assert reason["change_if_removed"] == pytest.approx(
          ablated[row] - served[row], abs=1e-5)
    assert item["explanation"]["features"]


def test_a_new_item_is_scored_at_once_without_retraining(client, rec,
                                                         server):
  _post(client, "fan", RATINGS)
  body = {"features": {"genres": ["War"], "year": "1970"},
          "title": "Brand new film", "text": "Brand new film"}
  out = client.ok("PUT", "/v1/items/1001", body)
  assert out["item_id"] == 1001 and out["genres"] == ["War"]
  assert client.ok("GET", "/v1/items?q=brand%20new")[0]["item_id"] == 1001
  got = client.ok("GET", "/v1/users/fan/recommendations?k=100")
  served = {x["item_id"]: x["raw_score"] for x in got["items"]}
  # Independently: the run's tables plus one row, id 0 (unknown item), the
  # features' value indices, the training mean as its item mean.
  fields = server.service.items.fields
  tables = dict(rec.tables)
  tables["item"] = {k: np.concatenate([v, np.zeros((1, v.shape[1]),
                                                   v.dtype)])
                    for k, v in rec.tables["item"].items()}
  tables["item"]["genres"][-1, 0] = fields["genres"]["War"]
  tables["item"]["year"][-1, 0] = fields["year"]["1970"]
  tables["item_id"] = np.append(rec.tables["item_id"], 0).astype(np.int32)
  tables["item_mean"] = np.append(rec.tables["item_mean"],
                                  rec.prep.floor_stats.global_mean
                                  ).astype(np.float32)
  # No meta-training rating: a count of 0 (its mean is never shrunk).
  tables["item_count"] = np.append(rec.tables["item_count"], 0.0).astype(
      np.float32)
  support = (rec.item_index([i for i, _ in RATINGS]),
             np.array([r for _, r in RATINGS], np.float32))
  batch = rec.serving_batch([support]).replace(
      query_items=np.arange(len(rec.item_ids) + 1, dtype=np.int32)[None],
      query_ratings=np.zeros((1, len(rec.item_ids) + 1), np.float32),
      query_mask=np.ones((1, len(rec.item_ids) + 1), np.float32))
  want = predict.predict_batch(rec.method, rec.params, tables, batch,
                               rec.hparams)[0]
  assert served[1001] == pytest.approx(want[-1], abs=1e-5)
  # An update changes its score; rating it takes it out of the list.
  client.ok("PUT", "/v1/items/1001", {**body, "features": {
      "genres": ["Drama", "Comedy"]}})
  again = client.ok("GET", "/v1/users/fan/recommendations?k=100")
  new = {x["item_id"]: x["raw_score"] for x in again["items"]}
  assert abs(new[1001] - served[1001]) > 1e-5
  _post(client, "fan", [(1001, 4.0)])
  last = client.ok("GET", "/v1/users/fan/recommendations?k=100")
  assert 1001 not in {x["item_id"] for x in last["items"]}


def test_replaying_the_events_gives_the_same_recommendations(
    client, server, workdir, tmp_path):
  _post(client, "replay", RATINGS[:3])
  _post(client, "replay", [(7, 5.0)])  # Re-rated: the new rating counts.
  last = client.ok("GET", "/v1/users/replay/ratings")["ratings"][-1]
  assert (last["item_id"], last["rating"]) == (7, 5.0)
  users = ["cli", "loo", "fan", "replay", "nobody"]
  before = [client.ok("GET", f"/v1/users/{u}/recommendations?k=20")
            for u in users]
  copy = str(tmp_path / "copy.sqlite")
  with sqlite3.connect(server.service.store.path) as src, \
      sqlite3.connect(copy) as dst:
    src.backup(dst)
  replayed = service_lib.Service(workdir, copy)
  try:
    answers = replayed.recommend_batch([replayed.request(u, 20)
                                        for u in users])
    for want, (got, _, _) in zip(before, answers):
      for x in got["items"]:
        x.pop("row")
      assert got == want
  finally:
    replayed.close()


def _bad_requests(rng) -> list:
  """Hand-written hostile requests, then seeded random mutations."""
  r = "/v1/users/u/ratings"
  fixed = [
      ("POST", r, b'{"ratings": [', "body: malformed JSON"),
      ("POST", r, b'{"ratings": "5"}', "body.ratings: "),
      ("POST", r, b'{"ratings": []}', "body.ratings: "),
      ("POST", r, b'{"ratings": [{"item_id": 1.5, "rating": 3}]}',
       "body.ratings[0].item_id"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": "4"}]}',
       "body.ratings[0].rating"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": NaN}]}',
       "body.ratings[0].rating"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": Infinity}]}',
       "body.ratings[0].rating"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": 6}]}',
       "ratings[0].rating: 6.0 is outside the model's range 1..5"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": 4}, '
       b'{"item_id": 99999, "rating": 4}]}',
       "ratings: 1 item id(s) not in the catalogue: 99999"),
      ("POST", r, b'{"ratings": [{"item_id": 1, "rating": 4, "x": 1}]}',
       "body.ratings[0].x"),
      ("POST", r, json.dumps({"ratings": [{"item_id": 1, "rating": 4}]
                              * 501}).encode(), "body.ratings: "),
      ("POST", r, b'{"ratings": [' + b'{"item_id": 1, "rating": 4},' * 12000
       + b']}', "body: over"),
      ("PUT", "/v1/items/x", b'{"features": {"colour": "red"}}',
       "features.colour: not an item field"),
      ("PUT", "/v1/items/x", b'{"features": {"genres": ["Jazz"]}}',
       "features.genres: unknown value(s) ['Jazz']"),
      ("PUT", "/v1/items/x", json.dumps({"text": "a" * 3000}).encode(),
       "body.text"),
      ("GET", "/v1/users/u/recommendations?k=0", None, "query.k"),
      ("GET", "/v1/users/u/recommendations?k=abc", None, "query.k"),
  ]
  good = json.dumps({"ratings": [{"item_id": 3, "rating": 4}]}).encode()
  junk = [b"", b"null", b"[]", b"{}", b"\xff\xfe", b'{"ratings": null}',
          b'{"ratings": [null]}', b'{"ratings": [{"item_id": true, '
          b'"rating": 3}]}', b'{"ratings": [{"item_id": [], "rating": 3}]}']
  out = list(fixed)
  while len(out) < len(fixed) + 300:
    n = len(out)
    cut = int(rng.integers(1, len(good)))
    if n % 3 == 0:
      body = junk[n % len(junk)]
    elif n % 3 == 1:  # Cut short.
      body = good[:cut]
    else:  # A byte turned into a structural character.
      body = good[:cut - 1] + bytes([int(rng.choice(list(b'{}[]":,')))]) + \
          good[cut:]
    try:
      json.loads(body)
      if body not in junk:
        continue  # Still valid JSON: not a malformed request.
    except ValueError:
      pass
    out.append(("POST", r, body, None))
  return out


def test_bad_and_hostile_input_is_a_4xx_and_changes_nothing(client, server):
  events = server.service.store.count()
  before = client.ok("GET", "/v1/users/cli/recommendations?k=10")
  for method, path, body, want in _bad_requests(np.random.default_rng(0)):
    status, out = client.raw(method, path, body)
    assert 400 <= status < 500, (status, body, out)
    assert isinstance(out, dict) and list(out) == ["detail"], out
    assert isinstance(out["detail"], str) and "Traceback" not in out["detail"]
    if want:
      assert out["detail"].startswith(want), (want, out["detail"])
  assert server.service.store.count() == events
  assert client.ok("GET", "/v1/users/cli/recommendations?k=10") == before
  assert client.ok("GET", "/healthz")["status"] == "ok"


def test_writes_need_the_token_when_one_is_set(client, server):
  server.app.state.token = "s3cret"
  try:
    body = {"ratings": [{"item_id": 3, "rating": 4}]}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
      status, out = client.call("POST", "/v1/users/t/ratings", body, headers)
      assert status == 401 and "write token" in out["detail"]
      status, _ = client.call("PUT", "/v1/items/77", {}, headers)
      assert status == 401
    assert client.ok("GET", "/healthz")["token_required"]
    assert client.ok("POST", "/v1/users/t/ratings", body, {
        "Authorization": "Bearer s3cret"}) == {"accepted": 1}
  finally:
    server.app.state.token = None


def test_concurrent_requests_share_model_calls(server):
  users = [f"c{n}" for n in range(32)]
  first = Client(server.port)
  for n, u in enumerate(users):
    _post(first, u, [RATINGS[n % len(RATINGS)]])
  alone = [first.ok("GET", f"/v1/users/{u}/recommendations?k=5")
           for u in users]
  calls = server.app.state.batcher.calls
  clients = [Client(server.port) for _ in users]
  with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
    together = list(pool.map(
        lambda cu: cu[0].ok("GET", f"/v1/users/{cu[1]}/recommendations?k=5"),
        zip(clients, users)))
  for a, b in zip(alone, together):
    assert [x["item_id"] for x in a["items"]] == [x["item_id"]
                                                  for x in b["items"]]
    np.testing.assert_allclose([x["raw_score"] for x in a["items"]],
                               [x["raw_score"] for x in b["items"]],
                               atol=1e-5)
  assert server.app.state.batcher.calls - calls < len(users)


def test_openapi_documents_every_endpoint(client):
  paths = client.ok("GET", "/openapi.json")["paths"]
  assert {p: sorted(v) for p, v in paths.items()} == {
      "/v1/users/{user_id}/ratings": ["get", "post"],
      "/v1/users/{user_id}/recommendations": ["get"],
      "/v1/items": ["get"], "/v1/items/{item_id}": ["put"],
      "/v1/fields": ["get"], "/healthz": ["get"]}
