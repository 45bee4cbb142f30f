"""Request and response bodies: a bad field is a 422 naming it."""

from typing import Annotated, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_RATINGS = 500  # per call; a bigger batch is several calls
Id = Union[StrictInt, StrictStr]
Value = Union[StrictStr, StrictInt]


class _Strict(BaseModel):
  model_config = ConfigDict(extra="forbid")


class Rating(_Strict):
  item_id: Annotated[Id, Field(description="An item of the catalogue, as "
                               "the data writes it (string or integer).")]
  rating: Annotated[float, Field(strict=True, allow_inf_nan=False,
                                 description="Within the model's range.")]


class RatingsIn(_Strict):
  ratings: Annotated[list[Rating], Field(min_length=1,
                                         max_length=MAX_RATINGS)]


class Accepted(BaseModel):
  accepted: int = Field(description="Ratings committed to the event log.")


class UserRatings(BaseModel):
  user_id: str
  ratings: list[dict]


class ItemIn(_Strict):
  features: dict[StrictStr, Union[Value, list[Value]]] = Field(
      default_factory=dict, description="Item field -> value or values, "
      "from GET /v1/fields; a field left out is missing.")
  text: Annotated[StrictStr, Field(max_length=2000)] = Field(
      "", description="Embedded for runs that read item text.")
  title: Annotated[StrictStr, Field(max_length=200)] = Field(
      "", description="Shown by the page and search; default: the text.")


class Item(BaseModel):
  item_id: Id
  title: Optional[str] = None
  genres: list = []
  year: Optional[int] = None


class RatingReason(BaseModel):
  item_id: Optional[Id] = Field(None, description="The rated item.")
  user_id: Optional[Id] = Field(None, description="A run on item tasks: "
                                "the user whose rating of this item it is.")
  rating: float
  change_if_left_out: float = Field(description="The score after "
                                    "re-adapting without this rating, minus "
                                    "the served score.")


class FeatureReason(BaseModel):
  field: str
  value: Optional[str] = Field(None, description="None for the text.")
  change_if_removed: float = Field(description="The score with this value "
                                   "missing (text: zero embedding), minus "
                                   "the served score.")


class Explanation(BaseModel):
  ratings: list[RatingReason]
  features: list[FeatureReason]


class Recommended(BaseModel):
  item_id: Id
  title: Optional[str] = None
  score: float = Field(description="The raw score clipped to the rating "
                       "range, as the evaluation scores predictions.")
  raw_score: float = Field(description="What items are ranked by.")
  explanation: Optional[Explanation] = None


class Recommendations(BaseModel):
  model_version: int
  items: list[Recommended]


class Health(BaseModel):
  status: str
  model_version: int
  events: int
  token_required: bool
