"""An outside fuzzer against the running HTTP API (schemathesis, from the OpenAPI schema the
service publishes), with every check schemathesis has, not only "no 5xx": the status
code, content type, headers and body match the schema; invalid input is rejected and
valid input accepted; missing auth is noticed; an unsupported method gets 405.

Two runs, bounded to fit in about a minute on 2 cores:
- each operation on its own (``as_strategy``), positive and negative inputs;
- stateful: sequences of calls chained by the schema's links (schemathesis infers them
  where the schema names none: the id a POST returns feeds the routes that take it), so
  a created subscription is listed and deleted, an order confirmed after it is placed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckFunction
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import TOKENS, Service

HEADERS = {"Authorization": f"Bearer {TOKENS['admin']}"}
#: generous per-request limit: the service shares 2 cores with Ray
TIMEOUT = 30
#: Checks left out, per operation, each for a rule no JSON Schema can state; every other
#: check runs on every operation:
#: - POST /v1/subscriptions: whether a URL is accepted depends on where its host resolves
#:   (private, loopback and link-local targets are refused: server-side request forgery),
#:   so schema-valid URLs like ``http://0/`` are rightly refused; and what a receiver
#:   needs depends on its kind (a webhook's secret of 16+ characters, a DingTalk
#:   access_token or WeCom key in the URL, ``repeat_interval >= group_interval``);
#: - POST /v1/orders: the lines of one SKU in an order add up to at most 100,000 units
#:   (a sum across array items).
#: - PUT /v1/skus/{sku}: ``on_sale_until`` must be after ``on_sale_since`` (the SKU's own, when
#:   the update leaves it out), a rule between two fields.
#: So positive_data_acceptance (ST202) cannot hold on those three.
EXCLUDED: dict[str, list[CheckFunction]] = {
    "POST /v1/subscriptions": [positive_data_acceptance],
    "POST /v1/orders": [positive_data_acceptance],
    "PUT /v1/skus/{sku}": [positive_data_acceptance],
}
QUICK = settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def lift_fuzzed_silences(service: Service) -> Iterator[None]:
    """The fuzzer creates silences (``sku`` defaults to ``*``: every SKU) that would mute
    the alerts of the tests that share this service after it: lift them all."""
    yield
    listed = requests.get(f"{service.url}/v1/silences", headers=HEADERS, timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    for silence in listed.json():
        lifted = requests.delete(
            f"{service.url}/v1/silences/{silence['id']}", headers=HEADERS, timeout=TIMEOUT
        )
        assert lifted.status_code in (204, 404), lifted.text


def fuzzed_schema(service: Service) -> Any:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    # A body over the front door's limit is refused with 413 before it is read, whatever
    # else is wrong with it: a rejection too (the generator builds such bodies from
    # maxItems-violating arrays of long orders)
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    )
    # The SSE stream never ends (a client reads it), and webhook bodies are raw bytes with
    # a signature: both have their own tests.
    return schema.exclude(path="/v1/alerts/stream").exclude(path_regex=r"^/v1/channels/")


def test_no_input_makes_an_operation_misbehave(service: Service) -> None:
    schema = fuzzed_schema(service)
    checked: list[str] = []
    failures: dict[str, str] = {}  # the first failure of each operation, so all are reported
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the schema does not describe validly
        operation = result.ok()

        @given(case=operation.as_strategy())
        @QUICK
        def check(case: schemathesis.Case[Any]) -> None:
            try:
                # no ``checks=``: every check schemathesis registers (all enabled by default)
                # but the operation's EXCLUDED
                case.call_and_validate(
                    headers=HEADERS, timeout=TIMEOUT, excluded_checks=EXCLUDED.get(case.operation.label, [])
                )
            except (Exception, FailureGroup) as failure:  # FailureGroup is a BaseException
                failures.setdefault(case.operation.label, str(failure))

        try:
            check()
        except (Exception, FailureGroup) as failure:  # a check that judges the whole run
            failures.setdefault(operation.label, str(failure))
        checked.append(operation.label)
    assert len(checked) >= 15
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())


def test_no_sequence_of_calls_makes_the_api_misbehave(service: Service) -> None:
    # Lifting a silence is left to the per-operation run: the link schemathesis infers
    # for it takes the id from GET /v1/silences, a list that other calls in the sequence
    # change, so a replayed sequence draws different data and Hypothesis rejects the run
    # as flaky (FlakyStrategyDefinition) rather than finding anything.
    base = fuzzed_schema(service).exclude(path_regex=r"^/v1/silences/").as_state_machine()

    class Calls(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"headers": HEADERS, "timeout": TIMEOUT}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            # every check but the operation's EXCLUDED, told which credentials were sent
            # (the auth checks replay without them)
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=EXCLUDED.get(case.operation.label, []),
                headers=HEADERS,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Calls.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
