"""The published OpenAPI schema, completed with what only the deployment knows: the
channel names it is configured with. A client (or a fuzzer) that follows the schema then
sends only channels the service accepts; any other name is refused with 422
``unknown_channel``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

#: the models of the bodies routes read themselves (``json_body``), by name
_BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads its JSON body itself (to decode it
    faster than FastAPI would): ``model`` documents the body as if FastAPI read it."""
    _BODY_MODELS[model.__name__] = model
    schema = {"$ref": f"{_REF_PREFIX}{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(app: FastAPI, channels: Iterable[str]) -> None:
    """Serve ``app``'s schema with an ``enum`` of ``channels`` on every channel field."""
    names = sorted(channels)

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = with_channels(with_body_models(document), names)
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]  # FastAPI's documented way to customise


def with_body_models(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the schemas of the bodies routes read themselves (``json_body``)
    among its components, as FastAPI would have put them there."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _BODY_MODELS.items():
        schema = model.model_json_schema(ref_template=_REF_PREFIX + "{model}")
        for nested, nested_schema in schema.pop("$defs", {}).items():
            components.setdefault(nested, nested_schema)
        components.setdefault(name, schema)
    document["components"]["schemas"] = dict(sorted(components.items()))
    return document


def with_channels(document: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``document`` with ``enum: names`` on every path parameter called ``channel`` and
    every ``channel`` property of a request body (with ``*`` too where ``*``, any, is the
    default); responses are left as they are."""
    components = document.get("components", {}).get("schemas", {})
    request_models: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "channel":
                    parameter.setdefault("schema", {})["enum"] = names
            _collect_refs(operation.get("requestBody", {}), components, request_models)
    for name in request_models:
        channel = components[name].get("properties", {}).get("channel")
        if channel is not None:
            # a matcher (a silence's) also takes "*", any channel: its default says so
            channel["enum"] = ["*", *names] if channel.get("default") == "*" else names
    return document


def _collect_refs(node: Any, components: dict[str, Any], found: set[str]) -> None:
    """Every component ``node`` refers to, directly or through other components."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref[len(_REF_PREFIX) :]
            if name not in found and name in components:
                found.add(name)
                _collect_refs(components[name], components, found)
        for value in node.values():
            _collect_refs(value, components, found)
    elif isinstance(node, list):
        for value in node:
            _collect_refs(value, components, found)


_REF_PREFIX = "#/components/schemas/"
