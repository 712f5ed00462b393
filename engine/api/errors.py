"""Every error the engine answers has one shape: `{"error": {"code", "message", "retryable"}}`.

Validation errors are reworded so the message names the field and the limit
("query: at most 500 characters"), which the bot can show to the user as is. `retryable` says
whether sending the same request again later can succeed: only a full queue (429), an engine
still loading or draining (503) and a body that arrived too slowly (408) are; a timeout (504) is
not, because the same work would take as long again and a retry would only add load.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.contract import NOT_BLANK_PATTERN, ErrorBody, ErrorDetail

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "body_timeout", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid_input", 429: "busy", 500: "internal", 501: "unavailable", 503: "not_ready", 504: "timeout",
}
RETRYABLE_STATUSES = frozenset({408, 429, 503})


class ApiError(StarletteHTTPException):
    """An answer other than 2xx, raised anywhere below a route (or by the request guard while reading).

    It is an HTTPException so that FastAPI lets it through body parsing unchanged.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=dict(headers or {}))
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        """Whether the same request, sent again later, can succeed."""
        return self.status in RETRYABLE_STATUSES

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return error_body(self.code, self.message, retryable=self.retryable)

    def __str__(self) -> str:
        return self.message


def error_body(code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    """`{"error": {"code": code, "message": message, "retryable": retryable}}`."""
    return ErrorBody(error=ErrorDetail(code=code, message=message, retryable=retryable)).model_dump()


DRAINING_MESSAGE = "the engine is shutting down; retry shortly (another engine may answer)"


def draining_error(retry_after_s: int) -> ApiError:
    """503 for work the engine will not take or start because it is draining (retry elsewhere)."""
    return ApiError(503, "draining", DRAINING_MESSAGE, {"Retry-After": str(retry_after_s)})


def error_response(error: ApiError) -> JSONResponse:
    """`error` as a JSON response with its status and headers."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """pydantic errors as one line per field: "query: at most 500 characters; k: at most 10"."""
    parts = []
    for err in errors:
        field = _field_name(err.get("loc", ()), err.get("type", ""))
        parts.append(f"{field}: {_reason(err)}" if field else _reason(err))
    return "; ".join(dict.fromkeys(parts)) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):  # unparseable, not merely invalid
            return error_response(ApiError(400, "bad_request", describe_validation_errors(errors)))
        return error_response(ApiError(422, "invalid_input", describe_validation_errors(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(ApiError(exc.status_code, code, message, exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the engine log"))


def _field_name(loc: Sequence[Any], kind: str) -> str:
    # loc starts with where the value came from ("body", "query", "path", "header", "cookie")
    parts = list(loc[1:]) if loc and loc[0] in _LOCATIONS else list(loc)
    if kind == "value_error" and not parts:
        return ""  # a check across fields (a model validator): its message names the fields itself
    if kind == "json_invalid" or not parts:
        return str(loc[0]) if loc else ""
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _reason(err: Mapping[str, Any]) -> str:
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    templates = {
        "missing": "required",
        "string_too_long": "at most {max_length} characters",
        "string_too_short": "at least {min_length} characters",
        "too_long": "at most {max_length} items",
        "too_short": "at least {min_length} items",
        "less_than_equal": "at most {le}",
        "less_than": "less than {lt}",
        "greater_than_equal": "at least {ge}",
        "greater_than": "greater than {gt}",
        "literal_error": "one of {expected}",
        "enum": "one of {expected}",
        "json_invalid": "not valid JSON ({error})",
        "int_parsing": "an integer is expected",
        "int_from_float": "an integer is expected",
        "int_type": "an integer is expected",
        "bool_parsing": "true or false is expected",
        "bool_type": "true or false is expected",
        "float_parsing": "a number is expected",
        "float_type": "a number is expected",
        "finite_number": "a finite number is expected",
        "string_type": "a string is expected",
        "list_type": "a JSON array is expected",
        "model_attributes_type": "a JSON object is expected",
        "model_type": "a JSON object is expected",
        "dict_type": "a JSON object is expected",
        "string_pattern_mismatch": "must match the pattern {pattern}",
    }
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NOT_BLANK_PATTERN:
        return "must not be empty"  # blank: only spaces, which the engine would strip to nothing
    template = templates.get(kind)
    if template:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")
