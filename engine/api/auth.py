"""The bearer token as an OpenAPI security scheme on every /v1 route.

The guard (engine/api/guard.py) is what refuses a request without the token, before its body is
read; this dependency declares the scheme in the OpenAPI document and checks the same thing again,
so a route mounted without the guard is still protected.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .guard import token_error

_bearer = HTTPBearer(auto_error=False, description="MIRAGE_ENGINE_TOKEN, when the engine has one")


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Raise 401 unless the request carries the engine's token (a no-op when none is configured)."""
    expected = request.app.state.runtime.settings.engine_token
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    error = token_error(header, expected.get_secret_value() if expected else None)
    if error is not None:
        raise error
