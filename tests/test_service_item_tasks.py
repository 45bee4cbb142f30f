"""The service on a run of item tasks (data.task_axis=item): an item's
ratings through the API are its support, an added item warms up from its
first ratings, and a user's scores are the Recommender's item-task
predictions for them; explanations leave the item's ratings out exactly."""

import numpy as np
import pytest

from metarec_jax.serving import recommender
from metarec_jax.train import experiment
from service_helpers import Client, ThreadServer
from tiny_run import tiny_config, write_dataset


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  folder = write_dataset(str(tmp_path_factory.mktemp("data")), n_users=60)
  w = str(tmp_path_factory.mktemp("run"))
  config = tiny_config(folder)
  config.data.task_axis = "item"
  experiment.train_and_evaluate(config, w)
  return w


def test_items_warm_up_from_their_ratings(workdir, tmp_path):
  rec = recommender.Recommender.load(workdir)  # Ranks users for an item.
  row = lambda user: int(rec.item_index([user])[0])
  with ThreadServer(workdir, str(tmp_path / "events.sqlite")) as server:
    client = Client(server.port)
    post = lambda user, ratings: client.ok(
        "POST", f"/v1/users/{user}/ratings", {"ratings": [
            {"item_id": i, "rating": r} for i, r in ratings]})
    client.ok("PUT", "/v1/items/900", {"title": "New item"})
    prior = client.ok("GET", "/v1/users/7/recommendations?k=100")
    assert len(prior["items"]) == 61  # Scored before any rating: the prior.
    post(3, [(900, 4.0), (1, 4.0)])
    post(5, [(900, 2.0)])
    post("alice", [(2, 5.0)])  # A new user: a free user row.
    got = client.ok("GET", "/v1/users/7/recommendations?k=100&explain=true")
    served = {x["item_id"]: x for x in got["items"]}
    assert len(served) == 61  # 60 items and the added one; 7 rated none.
    # The added item (no features: the run's new-item row) on its ratings.
    new = rec.adapt([(3, 4.0), (5, 2.0)]).scores[row(7)]
    assert served[900]["raw_score"] == pytest.approx(new, abs=1e-5)
    # A catalogue item on the ratings it got through the API, its features.
    one = rec.adapt([(3, 4.0)], user=1).scores[row(7)]
    assert served[1]["raw_score"] == pytest.approx(one, abs=1e-5)
    # Leaving user 3's rating of the added item out: user 5's alone.
    reasons = {r["user_id"]: r for r in served[900]["explanation"]["ratings"]}
    without = rec.adapt([(5, 2.0)]).scores[row(7)]
    assert reasons[3]["change_if_left_out"] == pytest.approx(without - new,
                                                             abs=1e-5)
    # Items a user rated are not recommended to them.
    mine = client.ok("GET", "/v1/users/3/recommendations?k=100")
    assert not {900, 1} & {x["item_id"] for x in mine["items"]}
    assert np.isfinite([x["raw_score"] for x in mine["items"]]).all()
