"""/v1/users: a user's ratings in, their recommendations out."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from metarec_jax.serving.api import deps, schemas

router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[str, Path(min_length=1, max_length=200,
                             description="Any string; a user of the "
                             "training data also gets their side features.")]


@router.post("/{user_id}/ratings", response_model=schemas.Accepted,
             dependencies=[Depends(deps.write_access)])
def add_ratings(user_id: UserId, body: schemas.RatingsIn,
                service=Depends(deps.service)):
  """Adds a user's ratings (a re-rated item takes the new rating). Answers
  once the events are committed to the database."""
  n = service.add_ratings(user_id, [(r.item_id, r.rating)
                                    for r in body.ratings])
  return {"accepted": n}


@router.get("/{user_id}/ratings", response_model=schemas.UserRatings)
def get_ratings(user_id: UserId, service=Depends(deps.service)):
  """The user's ratings as the service holds them, oldest first."""
  return {"user_id": user_id, "ratings": service.ratings_of(user_id)}


@router.get("/{user_id}/recommendations",
            response_model=schemas.Recommendations,
            response_model_exclude_none=True)
async def recommendations(
    user_id: UserId,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    explain: Annotated[bool, Query(description="Add each item's exact "
                                   "explanation (first 20 items).")] = False,
    service=Depends(deps.service), batcher=Depends(deps.batcher)):
  """The top k unrated items, best first. A user with no ratings gets the
  meta-learned prior; requests that arrive together share one jitted
  adaptation."""
  request = service.request(user_id, k)
  answer, model, snap = await batcher.submit(request)
  if explain:
    answer = await batcher.run(service.explain, request, answer, model, snap)
  for item in answer["items"]:
    item.pop("row", None)
  # Built by the service in the documented shape: skip re-validating it.
  return JSONResponse(answer)
