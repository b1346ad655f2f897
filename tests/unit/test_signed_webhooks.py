"""``ChannelIngest.ingest_signed``: a webhook signed Standard Webhooks style is decided
only when authentic and fresh; an authentic body that cannot be read as a batch is
refused as undecodable (not as a bad signature); either way nothing is applied."""

from __future__ import annotations

import json

import pytest

from actors.ingest.core import ChannelIngest, WebhookRejected, WebhookUndecodable
from actors.ingest.memory_store import MemoryIngestStore
from policies.channels.signing import WebhookHeaders, webhook_headers
from tests.unit.test_ingest_core import PureOwner, order

SECRET = b"mini-shared-secret"
NOW = 1_800_000_000.0


def signed(body: bytes, at: float = NOW, secret: bytes = SECRET) -> WebhookHeaders:
    headers = webhook_headers(secret, "msg_1", int(at), body)
    return WebhookHeaders(headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"])


@pytest.fixture
def owner() -> PureOwner:
    return PureOwner({"A": 10})


@pytest.fixture
def store() -> MemoryIngestStore:
    return MemoryIngestStore()


@pytest.fixture
def ingest(owner: PureOwner, store: MemoryIngestStore) -> ChannelIngest:
    return ChannelIngest("mini", "generic", store, owner.submit, secret=SECRET, tolerance_seconds=300)


def test_an_authentic_fresh_batch_is_decided(ingest: ChannelIngest, owner: PureOwner) -> None:
    body = json.dumps([order("w1", ("A", 2))]).encode()
    assert [o.accepted for o in ingest.ingest_signed(body, signed(body, NOW - 10), NOW).orders] == [True]
    assert owner.held("A") == (2, 0)


@pytest.mark.parametrize(
    ("at", "secret", "code"),
    [
        (NOW - 301, SECRET, "stale_signature"),
        (NOW + 301, SECRET, "stale_signature"),
        (NOW, b"another-secret", "bad_signature"),
    ],
)
def test_a_stale_or_forged_batch_is_rejected_and_applies_nothing(
    ingest: ChannelIngest, owner: PureOwner, at: float, secret: bytes, code: str
) -> None:
    body = json.dumps([order("w1", ("A", 2))]).encode()
    with pytest.raises(WebhookRejected) as caught:
        ingest.ingest_signed(body, signed(body, at, secret), NOW)
    assert caught.value.code == code
    assert owner.batches == []


@pytest.mark.parametrize(
    ("body", "batch", "says"),
    [
        (b'[{"type": "order", "order_id": "\xff"}]', False, "not valid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, False, "nested too deeply"),
        (b'{"type": "order", "order_id": ' + b"7" * 5000 + b"}", False, "not valid JSON"),
        (b'[{"type": "order"', False, "not valid JSON"),
        (b'"an order"', True, "got str"),
        (b"42", True, "got int"),
        (b"null", True, "got NoneType"),
    ],
    ids=["invalid utf-8", "nested 5,000 deep", "5,000-digit number", "truncated", "string", "number", "null"],
)
def test_an_authentic_undecodable_body_is_named_not_called_a_bad_signature(
    ingest: ChannelIngest, store: MemoryIngestStore, owner: PureOwner, body: bytes, batch: bool, says: str
) -> None:
    with pytest.raises(WebhookUndecodable) as caught:
        ingest.ingest_signed(body, signed(body), NOW)
    assert caught.value.batch is batch
    assert says in str(caught.value)
    assert owner.batches == []
    assert store.published() == []
