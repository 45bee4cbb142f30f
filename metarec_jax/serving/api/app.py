"""The HTTP service: FastAPI's app factory, loaded once per process.

  app = create_app(lambda: Service(run_dir, db), token=None)
  uvicorn.run(app, host="127.0.0.1", port=8000)

The lifespan builds the Service (the run, its event replay) and the batcher
once, and polls the run's versions folder so a refreshed version is loaded
beside the served one and switched to without dropping a request. Every
error is one JSON message, {"detail": "..."}, with a 4xx status: a bad field
is a 422 naming it, a body over MAX_BODY bytes a 413, a missing write token
a 401; nothing changes state before its input is checked.
"""

import asyncio
import contextlib
import json
import os

from absl import logging
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from metarec_jax.core.errors import ServingError
from metarec_jax.serving import batcher as batcher_lib, versions
from metarec_jax.serving.api import items, schemas, users

MAX_BODY = 256 * 1024
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static",
                    "index.html")


def _where(loc) -> str:
  """("body", "ratings", 0, "rating") -> "body.ratings[0].rating"."""
  out = ""
  for part in loc:
    out += f"[{part}]" if isinstance(part, int) else (
        f".{part}" if out else str(part))
  return out


def validation_message(errors: list) -> str:
  first = errors[0]
  if first.get("type") == "json_invalid":
    return f"body: malformed JSON ({first.get('ctx', {}).get('error', '')})."
  more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
  return f"{_where(first['loc'])}: {first['msg']}{more}."


async def _warm(service, batcher) -> None:
  """Compiles each user bucket's program before the first request."""
  for n in versions.SERVICE_BUCKETS:
    reqs = [service.request("", 1)] * n
    await batcher.run(service.recommend_batch, reqs)


async def _watch_versions(app: FastAPI, poll_s: float) -> None:
  while True:
    await asyncio.sleep(poll_s)
    try:
      if await asyncio.to_thread(app.state.service.refresh):
        logging.warning("serving model version %d",
                        app.state.service.model.version)
    except Exception as e:  # A broken version never stops serving.
      logging.error("model version not loaded: %s", e)


def create_app(make_service, token: str | None = None, poll_s: float = 1.0,
               warmup: bool = True) -> FastAPI:
  """make_service: () -> serving.service.Service, called once at start."""

  @contextlib.asynccontextmanager
  async def lifespan(app: FastAPI):
    app.state.service = make_service()
    app.state.batcher = batcher_lib.Batcher(
        app.state.service.recommend_batch, versions.SERVICE_BUCKETS[-1])
    app.state.batcher.start()
    if warmup:
      await _warm(app.state.service, app.state.batcher)
    watcher = asyncio.get_running_loop().create_task(
        _watch_versions(app, poll_s))
    yield
    watcher.cancel()
    await app.state.batcher.stop()
    app.state.service.close()

  app = FastAPI(title="metarec_jax recommendation service", lifespan=lifespan,
                description="Adapts a meta-learned recommender to each "
                "user's ratings as they arrive; exact explanations; items "
                "added without retraining; live model refresh.")
  app.state.token = token
  app.include_router(users.router)
  app.include_router(items.router)

  @app.exception_handler(RequestValidationError)
  async def _invalid(request: Request, exc: RequestValidationError):
    return JSONResponse({"detail": validation_message(exc.errors())}, 422)

  @app.exception_handler(ServingError)
  async def _serving(request: Request, exc: ServingError):
    return JSONResponse({"detail": str(exc)}, 422)

  @app.get("/healthz", response_model=schemas.Health, tags=["service"])
  def healthz(request: Request):
    """The model version new requests are served with."""
    service = request.app.state.service
    return {"status": "ok", "model_version": service.model.version,
            "events": service.store.count(),
            "token_required": request.app.state.token is not None}

  @app.get("/", include_in_schema=False)
  def page():
    return FileResponse(PAGE, media_type="text/html")

  return LimitBody(app, MAX_BODY)


class LimitBody:
  """ASGI wrapper: a request body over max_bytes is a 413 before the app
  reads any of it (Content-Length or a chunked body alike)."""

  def __init__(self, app, max_bytes: int):
    self.app, self.max_bytes = app, max_bytes

  def __getattr__(self, name):  # app.state, app.openapi() ... pass through.
    return getattr(self.app, name)

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http" or scope["method"] not in ("POST", "PUT",
                                                          "PATCH"):
      return await self.app(scope, receive, send)
    length = dict(scope["headers"]).get(b"content-length", b"0")
    if not length.isdigit() or int(length) > self.max_bytes:
      return await _reply(send, 413, f"body: over {self.max_bytes} bytes; "
                          "send fewer ratings per call.")
    body, more = b"", True
    while more:
      message = await receive()
      if message["type"] != "http.request":
        return
      body += message.get("body", b"")
      more = message.get("more_body", False)
      if len(body) > self.max_bytes:
        return await _reply(send, 413, f"body: over {self.max_bytes} bytes; "
                            "send fewer ratings per call.")
    sent = False

    async def replay():
      nonlocal sent
      if not sent:
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
      return await receive()

    await self.app(scope, replay, send)


async def _reply(send, status: int, detail: str) -> None:
  data = json.dumps({"detail": detail}).encode()
  await send({"type": "http.response.start", "status": status, "headers": [
      (b"content-type", b"application/json"),
      (b"content-length", str(len(data)).encode())]})
  await send({"type": "http.response.body", "body": data})
