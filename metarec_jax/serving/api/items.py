"""/v1/items: search the catalogue, add or update an item; /v1/fields."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from metarec_jax.serving.api import deps, schemas

router = APIRouter(tags=["items"])


@router.get("/v1/items", response_model=list[schemas.Item])
def search(q: Annotated[str, Query(max_length=200)] = "",
           limit: Annotated[int, Query(ge=1, le=100)] = 20,
           service=Depends(deps.service)):
  """Items whose title contains q (case-insensitive), catalogue order."""
  items = service.items
  return [items.describe(r) for r in items.search(q, limit)]


@router.put("/v1/items/{item_id}", response_model=schemas.Item,
            dependencies=[Depends(deps.write_access)])
def put_item(item_id: Annotated[str, Path(min_length=1, max_length=200)],
             body: schemas.ItemIn, service=Depends(deps.service)):
  """Adds or updates an item. It is recommendable at once, without
  retraining: the model's unknown-item vector plus its features (and its
  text embedding, for a run that reads item text)."""
  return service.put_item(item_id, body.features, body.text, body.title)


@router.get("/v1/fields", response_model=dict[str, list[str]])
def fields(service=Depends(deps.service)):
  """Each item field and its values (what PUT /v1/items accepts)."""
  return {f: list(v) for f, v in service.items.fields.items()}
