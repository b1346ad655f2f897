"""A signed webhook's body as its batch of platform messages, and the errors that refuse
one. Used by ``ChannelIngest`` (``actors.ingest.core``)."""

from __future__ import annotations

import json

from actors.ingest.store import RawMessage

#: the most webhook messages in one request
MAX_WEBHOOK_MESSAGES = 10_000


class WebhookRejected(ValueError):
    """A webhook that is not authentic (``code`` ``bad_signature``) or whose signed
    timestamp is outside the window (``stale_signature``); nothing was applied."""

    def __init__(self, message: str, code: str = "bad_signature") -> None:
        super().__init__(message)
        self.code = code


class WebhookUndecodable(ValueError):
    """An authentic webhook whose body cannot be read as a batch; nothing was applied.
    ``batch`` is False when the bytes are not JSON at all (not UTF-8, malformed, nested
    too deeply, a number too long), True when they are JSON but not a batch."""

    def __init__(self, message: str, *, batch: bool) -> None:
        super().__init__(message)
        self.batch = batch


def webhook_messages(body: bytes) -> list[RawMessage]:
    """The messages of an authentic webhook body: a JSON array of messages or one message
    object (``WebhookUndecodable`` naming what is wrong otherwise)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise WebhookUndecodable(
            f"body is not valid UTF-8: {error.reason} at byte {error.start}", batch=False
        ) from None
    except RecursionError:
        raise WebhookUndecodable("body is JSON nested too deeply", batch=False) from None
    except ValueError as error:  # malformed JSON, or a number too long to convert
        raise WebhookUndecodable(f"body is not valid JSON: {error}", batch=False) from None
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        found = type(payload).__name__
        raise WebhookUndecodable(
            f"body must be a JSON array of messages or one message object, got {found}", batch=True
        )
    if len(payload) > MAX_WEBHOOK_MESSAGES:
        raise WebhookUndecodable(f"more than {MAX_WEBHOOK_MESSAGES} messages in one request", batch=True)
    return payload
