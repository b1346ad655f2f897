"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis):
whatever a client sends, the service never answers 5xx, and every answer matches the
schema it publishes."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

from tests.e2e.conftest import TOKENS, Service

#: no 5xx; the status code, content type and body are what the schema says
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_input_makes_the_service_fail(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    # The SSE stream never ends (a client reads it), and webhook bodies are raw bytes with
    # a signature: both have their own tests.
    included = schema.exclude(path="/v1/alerts/stream").exclude(path_regex=r"^/v1/channels/")
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    checked = []
    for result in included.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the schema does not describe validly
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers, timeout=30, checks=CHECKS)

        check()
        checked.append(operation.label)
    assert len(checked) >= 15
