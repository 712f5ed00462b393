"""Bearer-token check for every route but health, when MIRAGE_ENGINE_TOKEN is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="MIRAGE_ENGINE_TOKEN, when the engine has one")


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Raise 401 unless the request carries the engine's token (a no-op when none is configured)."""
    expected = request.app.state.runtime.settings.engine_token
    if expected is None:
        return
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)", challenge)
    # constant time: the comparison must not reveal how much of a guess was right
    if not hmac.compare_digest(credentials.credentials.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "invalid bearer token", challenge)
