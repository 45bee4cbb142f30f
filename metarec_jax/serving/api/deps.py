"""Dependencies of the routers: the loaded service and the write token."""

import hmac

from fastapi import Header, HTTPException, Request


def service(request: Request):
  return request.app.state.service


def batcher(request: Request):
  return request.app.state.batcher


def write_access(request: Request,
                 authorization: str | None = Header(None)) -> None:
  """With --token_file, writes need `Authorization: Bearer <token>`."""
  token = request.app.state.token
  if token is None:
    return
  given = (authorization or "").removeprefix("Bearer ").strip()
  if not hmac.compare_digest(given.encode(), token.encode()):
    raise HTTPException(401, "this service needs a write token: send "
                        "'Authorization: Bearer <token>' (--token_file).")
