"""One JSON shape for every error: ``{"code": "...", "message": "...", "field": ...}``.

Routes raise ``ApiError``; FastAPI's validation and HTTP errors are reshaped here; and
``ErrorShield`` turns whatever else escapes a route into the same shape: 503
``unavailable`` when Redis cannot be reached (directly, or through a SKU owner whose Ray
task failed on it, or an owner that is gone), else 500 ``internal``, logged with the
request id and its traceback, never showing the traceback to the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import ray.exceptions
import redis.exceptions
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An error answered with ``status`` and a stable ``code``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return body


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal",
    503: "unavailable",
}

#: what a store that cannot be reached raises: Redis refused or timed out, or the Ray
#: actor that talks to it is gone or did not answer in time
UNREACHABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ray.exceptions.RayActorError,
    ray.exceptions.GetTimeoutError,
)


def unreachable_cause(error: BaseException) -> BaseException | None:
    """The unreachable-store error behind ``error``: itself, the exception a Ray task
    error carries (``cause``), or one in its ``__cause__`` / ``__context__`` chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UNREACHABLE):
            return current
        carried = getattr(current, "cause", None)
        if isinstance(carried, BaseException) and id(carried) not in seen:
            current = carried
        else:
            current = current.__cause__ or current.__context__
    return None


def first_problem(errors: Sequence[Any]) -> tuple[str, str | None]:
    """The message and the field (``orders.1.buyer_id``; None for the whole body) of
    the first of a validation's errors, as every 422 ``validation_error`` names them."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "path", "query"))
    return str(first.get("msg")), field or None


def error_response(error: BaseException, request_id: str) -> JSONResponse:
    """The answer to an exception no route turned into an ``ApiError``."""
    cause = unreachable_cause(error)
    if cause is not None:
        log.warning("store_unreachable", request_id=request_id, error=f"{type(cause).__name__}: {cause}")
        message = f"the stock store cannot be reached right now; retry shortly (request {request_id})"
        return JSONResponse(error_body("unavailable", message), 503, headers={"Retry-After": "1"})
    log.error("request_failed", request_id=request_id, exc_info=error)
    return JSONResponse(error_body("internal", f"internal error (request {request_id})"), 500)


class ErrorShield:
    """ASGI middleware: an exception that escapes the routes becomes the JSON error
    shape (it is not re-raised: the answer is given). A streaming answer that has
    already started cannot change its status; its exception is re-raised."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            if started:
                raise
            request_id = Headers(scope=scope).get("x-request-id") or uuid.uuid4().hex
            await error_response(error, request_id)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """The JSON error shape for ``ApiError``, validation and HTTP errors, and (through
    ``ErrorShield``) for any other exception."""
    app.add_middleware(ErrorShield)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error_body(error.code, error.message, error.field), error.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        message, field = first_problem(error.errors())
        return JSONResponse(error_body("validation_error", message, field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(error.status_code, "error")
        return JSONResponse(error_body(code, str(error.detail)), error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # reached only by an exception raised outside ErrorShield (in an outer middleware)
        return error_response(error, request.headers.get("x-request-id") or uuid.uuid4().hex)
