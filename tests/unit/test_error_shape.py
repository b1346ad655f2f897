"""``serve_app.errors``: whatever a route raises, the caller gets the JSON error shape;
503 ``unavailable`` when the store cannot be reached, 500 ``internal`` otherwise, with
the request id and never a traceback. (The app is called as ASGI, in process.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import ray.exceptions
import redis.exceptions
from fastapi import FastAPI
from starlette.types import Message
from structlog.testing import capture_logs

from serve_app.errors import install_error_handlers, unreachable_cause


def redis_refused() -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


def task_error(cause: BaseException) -> ray.exceptions.RayTaskError:
    """What ray.get raises when an actor's task raised ``cause``."""
    error: ray.exceptions.RayTaskError = ray.exceptions.RayTaskError(  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
        "SkuOwner.submit", "Traceback (most recent call last): ...", cause
    )
    return error


def owner_failed_on_redis() -> BaseException:
    # the exception is also an instance of the cause's class, as ray.get raises it
    wrapped: BaseException = task_error(redis_refused()).as_instanceof_cause()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
    return wrapped


def failing_app(error: BaseException) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/sync")
    def sync_route() -> None:
        raise error

    @app.post("/async")
    async def async_route() -> None:
        raise error

    return app


def call(app: FastAPI, path: str, request_id: str = "req-42") -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST ``path``: (status, headers, JSON body)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"x-request-id", request_id.encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, json.loads(body)


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_an_unexpected_exception_is_a_json_500_with_the_request_id_and_no_traceback(path: str) -> None:
    with capture_logs() as logs:
        status, headers, body = call(failing_app(KeyError("secret-internal-detail")), path)
    assert status == 500
    assert headers["content-type"] == "application/json"
    assert body == {"code": "internal", "message": "internal error (request req-42)"}
    assert "secret-internal-detail" not in json.dumps(body)
    assert [(e["event"], e["request_id"]) for e in logs] == [("request_failed", "req-42")]


@pytest.mark.parametrize(
    "error",
    [
        redis_refused(),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        owner_failed_on_redis(),
        ray.exceptions.GetTimeoutError("Get timed out"),
    ],
    ids=["redis refused", "redis timeout", "owner task failed on redis", "owner did not answer"],
)
@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_an_unreachable_store_is_a_json_503_unavailable(error: BaseException, path: str) -> None:
    with capture_logs():
        status, headers, body = call(failing_app(error), path)
    assert status == 503
    assert body["code"] == "unavailable"
    assert "req-42" in body["message"]
    assert headers["retry-after"] == "1"


def test_the_redis_error_is_found_behind_a_ray_task_error_and_a_chain() -> None:
    refused = redis_refused()
    wrapped = task_error(refused)
    assert unreachable_cause(wrapped) is refused
    outer = RuntimeError("while reading the ledger")
    outer.__cause__ = refused
    assert unreachable_cause(outer) is refused
    assert unreachable_cause(task_error(ValueError("x"))) is None
    assert unreachable_cause(ValueError("x")) is None
