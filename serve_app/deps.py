"""FastAPI dependencies: the Backend of this replica, and who is calling.

Both are coroutines, though neither waits on anything: FastAPI runs a plain function
dependency in a worker thread, a hop that costs more than the dependency itself (on
every request, as every route has both)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request

from serve_app.auth import MalformedAuthorization, Principal, TokenBook, presented_token
from serve_app.backend import Backend
from serve_app.errors import ApiError


async def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits bearers of a token whose role includes ``role``. (The
    front door, ``serve_app.guards``, has already refused unknown tokens before the body
    was read; this checks the role.)"""

    async def check(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
        book: TokenBook = request.app.state.tokens
        access_token = request.query_params.get("access_token")
        try:
            token = presented_token(authorization, request.method, request.url.path, access_token)
        except MalformedAuthorization as error:
            raise ApiError(401, "unauthorized", str(error)) from None
        principal = book.principal(token)
        if principal is None:
            raise ApiError(401, "unauthorized", "missing or unknown token")
        if not principal.can(role):
            raise ApiError(
                403, "forbidden", f"this token's role ({principal.role}) may not do this (needs {role})"
            )
        return principal

    return check
