"""Webhook signatures: ``sign_webhook`` / ``webhook_problem`` (Standard Webhooks: an
HMAC-SHA256 of ``{id}.{timestamp}.{body}``, base64, ``v1,``-prefixed, with a tolerance
window around the receiver's clock), and the older ``sign_body`` / ``signature_problem``.

The older signature is the HMAC-SHA256 of the exact body with the channel's secret, as
hex, optionally prefixed ``sha256=``. ``signature_problem`` returns None for a good
signature and otherwise a sentence saying what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.channels.signing import (
    WebhookHeaders,
    sign_body,
    sign_webhook,
    signature_problem,
    webhook_headers,
    webhook_problem,
)

SECRET = b"douyin-webhook-secret"
BODY = b'{"tag": "100", "msg_id": "m-1", "data": "{\\"p_id\\": 1}"}'

#: RFC 4231 test case 2: HMAC-SHA256 of "what do ya want for nothing?" keyed with "Jefe"
RFC4231_KEY = b"Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_DIGEST = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

MISMATCH = "signature does not match the body"
MALFORMED = "malformed signature: expected sha256=<64 hex digits>"


def digest_of(signature: str) -> str:
    assert signature.startswith("sha256=")
    return signature[len("sha256=") :]


# ---- signing ----------------------------------------------------------------------------------


def test_sign_body_is_the_prefixed_lowercase_hex_hmac_sha256() -> None:
    assert sign_body(RFC4231_KEY, RFC4231_DATA) == "sha256=" + RFC4231_DIGEST


def test_sign_body_depends_on_body_and_secret() -> None:
    signature = sign_body(SECRET, BODY)

    assert sign_body(SECRET, BODY + b" ") != signature
    assert sign_body(SECRET + b"x", BODY) != signature
    assert sign_body(SECRET, BODY) == signature


# ---- accepted signatures ------------------------------------------------------------------------


def test_accepts_its_own_signature() -> None:
    assert signature_problem(SECRET, BODY, sign_body(SECRET, BODY)) is None


def test_accepts_known_digest_from_another_implementation() -> None:
    assert signature_problem(RFC4231_KEY, RFC4231_DATA, "sha256=" + RFC4231_DIGEST) is None
    assert signature_problem(RFC4231_KEY, RFC4231_DATA, RFC4231_DIGEST) is None


def test_accepts_signature_without_the_prefix() -> None:
    assert signature_problem(SECRET, BODY, digest_of(sign_body(SECRET, BODY))) is None


@pytest.mark.parametrize("prefix", ["sha256=", ""])
def test_accepts_signature_in_upper_case_hex(prefix: str) -> None:
    digest = digest_of(sign_body(SECRET, BODY)).upper()

    assert signature_problem(SECRET, BODY, prefix + digest) is None


def test_accepts_signature_with_surrounding_whitespace() -> None:
    assert signature_problem(SECRET, BODY, f"  {sign_body(SECRET, BODY)}\n") is None


def test_accepts_signature_of_an_empty_body() -> None:
    assert signature_problem(SECRET, b"", sign_body(SECRET, b"")) is None


# ---- rejected signatures -------------------------------------------------------------------------


def test_tampered_body_does_not_match() -> None:
    signature = sign_body(SECRET, BODY)
    tampered = BODY.replace(b'\\"p_id\\": 1', b'\\"p_id\\": 2')
    assert tampered != BODY

    assert signature_problem(SECRET, tampered, signature) == MISMATCH


def test_body_with_one_extra_byte_does_not_match() -> None:
    assert signature_problem(SECRET, BODY + b"\n", sign_body(SECRET, BODY)) == MISMATCH


def test_signature_made_with_another_secret_does_not_match() -> None:
    assert signature_problem(SECRET, BODY, sign_body(b"someone-else", BODY)) == MISMATCH


def test_well_formed_digest_of_zeros_does_not_match() -> None:
    assert signature_problem(SECRET, BODY, "sha256=" + "0" * 64) == MISMATCH


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_is_a_problem(signature: str | None) -> None:
    assert signature_problem(SECRET, BODY, signature) == "missing signature"


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("sha256=" + "a" * 63, id="63 hex digits"),
        pytest.param("sha256=" + "a" * 65, id="65 hex digits"),
        pytest.param("a" * 40, id="sha1 length"),
        pytest.param("sha256=" + "g" * 64, id="not hex"),
        pytest.param("sha256=" + "z" + "0" * 63, id="one non-hex digit"),
        pytest.param("sha256=", id="prefix only"),
        pytest.param("   ", id="blank"),
        pytest.param("sha1=" + "a" * 64, id="other algorithm prefix"),
        pytest.param("sha256=" + "ａ" * 64, id="fullwidth letters"),
        pytest.param("sha256= " + "a" * 64, id="space after prefix"),
    ],
)
def test_malformed_signature_is_a_problem(signature: str) -> None:
    assert signature_problem(SECRET, BODY, signature) == MALFORMED


def test_malformed_signature_is_reported_even_when_body_would_match() -> None:
    digest = digest_of(sign_body(SECRET, BODY))

    assert signature_problem(SECRET, BODY, "sha256=" + digest[:-1]) == MALFORMED


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64])
def test_channel_without_a_secret_is_a_problem_whatever_the_signature(signature: str | None) -> None:
    problem = signature_problem(b"", BODY, signature)

    assert problem == "no webhook secret is configured for this channel"


def test_channel_without_a_secret_rejects_signature_made_with_an_empty_key() -> None:
    # An attacker can compute HMAC with an empty key: it must not authenticate.
    assert signature_problem(b"", BODY, sign_body(b"", BODY)) is not None


# ---- properties ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None)
@given(
    secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=256), position=st.integers(min_value=0)
)
def test_any_signed_body_verifies_and_any_changed_byte_does_not(
    secret: bytes, body: bytes, position: int
) -> None:
    signature = sign_body(secret, body)

    assert signature_problem(secret, body, signature) is None
    if body:
        index = position % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        assert signature_problem(secret, changed, signature) == MISMATCH
    assert signature_problem(secret, body + b"x", signature) == MISMATCH


# ---- Standard Webhooks: id, timestamp, body ---------------------------------------------------

NOW = 1_800_000_000.0
MESSAGE_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def signed(body: bytes = BODY, at: float = NOW, secret: bytes = SECRET) -> WebhookHeaders:
    headers = webhook_headers(secret, MESSAGE_ID, int(at), body)
    return WebhookHeaders(headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"])


def test_sign_webhook_matches_the_standard_webhooks_reference_vector() -> None:
    # the example of the Standard Webhooks libraries' tests (a whsec_ secret is base64)
    signature = sign_webhook(
        b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_webhook_within_the_window_is_authentic() -> None:
    assert webhook_problem(SECRET, BODY, signed(), NOW) is None
    assert webhook_problem(SECRET, BODY, signed(at=NOW - 299), NOW) is None
    assert webhook_problem(SECRET, BODY, signed(at=NOW + 299), NOW) is None


def test_one_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    good = signed()
    rotated = good._replace(signature=f"v1,{'A' * 43}= {good.signature}")
    assert webhook_problem(SECRET, BODY, rotated, NOW) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h._replace(id=MESSAGE_ID + "x"),
        lambda h: h._replace(timestamp=str(int(NOW) + 1)),
        lambda h: h._replace(signature="v1," + "A" * 43 + "="),
    ],
    ids=["other id", "other timestamp", "other signature"],
)
def test_a_changed_id_timestamp_or_signature_is_a_bad_signature(
    change: Callable[[WebhookHeaders], WebhookHeaders],
) -> None:
    problem = webhook_problem(SECRET, BODY, change(signed()), NOW)
    assert problem is not None
    assert problem.code == "bad_signature"


def test_a_tampered_body_or_another_secret_is_a_bad_signature() -> None:
    tampered = webhook_problem(SECRET, BODY.replace(b"m-1", b"m-2"), signed(), NOW)
    assert tampered is not None
    assert (tampered.code, tampered.message) == (
        "bad_signature",
        "signature does not match the id, timestamp and body",
    )
    other = webhook_problem(SECRET, BODY, signed(secret=b"another-channel"), NOW)
    assert other is not None
    assert other.code == "bad_signature"


def test_an_authentic_request_older_than_the_window_is_stale() -> None:
    problem = webhook_problem(SECRET, BODY, signed(at=NOW - 301), NOW)
    assert problem is not None
    assert problem.code == "stale_signature"
    assert "301 s old" in problem.message


def test_an_authentic_request_from_the_future_is_stale() -> None:
    problem = webhook_problem(SECRET, BODY, signed(at=NOW + 3600), NOW)
    assert problem is not None
    assert problem.code == "stale_signature"
    assert "in the future" in problem.message


def test_the_window_is_configurable() -> None:
    assert webhook_problem(SECRET, BODY, signed(at=NOW - 60), NOW, tolerance_seconds=30) is not None
    assert webhook_problem(SECRET, BODY, signed(at=NOW - 3000), NOW, tolerance_seconds=3600) is None


def test_a_forged_stale_request_is_a_bad_signature_not_a_stale_one() -> None:
    forged = signed(at=NOW - 3600)._replace(signature="v1," + "A" * 43 + "=")
    problem = webhook_problem(SECRET, BODY, forged, NOW)
    assert problem is not None
    assert problem.code == "bad_signature"


@pytest.mark.parametrize("missing", ["id", "timestamp", "signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    problem = webhook_problem(SECRET, BODY, signed()._replace(**{missing: None}), NOW)
    assert problem is not None
    assert problem.code == "bad_signature"
    assert f"webhook-{missing}" in problem.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "1.8e9"),
        ("timestamp", "-1800000000"),
        ("timestamp", "9" * 30),
        ("id", "x" * 129),
        ("id", "msg\n1"),
        ("signature", "sha256=" + "0" * 64),
        ("signature", "v2,abc"),
    ],
)
def test_malformed_headers_are_bad_signatures(field: str, value: str) -> None:
    problem = webhook_problem(SECRET, BODY, signed()._replace(**{field: value}), NOW)
    assert problem is not None
    assert problem.code == "bad_signature"


def test_no_configured_secret_authenticates_nothing() -> None:
    problem = webhook_problem(b"", BODY, signed(secret=b""), NOW)
    assert problem is not None
    assert problem.code == "bad_signature"


@settings(max_examples=100, deadline=None, database=None)
@given(body=st.binary(max_size=256), position=st.integers(min_value=0))
def test_any_webhook_verifies_and_any_changed_byte_does_not(body: bytes, position: int) -> None:
    headers = signed(body)
    assert webhook_problem(SECRET, body, headers, NOW) is None
    if body:
        index = position % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        problem = webhook_problem(SECRET, changed, headers, NOW)
        assert problem is not None
        assert problem.code == "bad_signature"
