"""The simulator's HTTP target: a running flashstock service (``flashstock serve`` or a
Serve deployment), reached as platforms and operators reach it.

Messages go to ``POST /v1/channels/{channel}/orders`` as each platform's signed webhook
batch (one request per channel per step, the channels in parallel), signed Standard
Webhooks style (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with
``FLASHSTOCK_WEBHOOK_SECRET_<CHANNEL>`` as the service expects; a message's latency is
its request's round trip. SKUs are created with ``PUT /v1/skus/{sku}``, restocks with
``POST /v1/skus/{sku}/restock``; alerts are read from ``GET /v1/alerts?state=history``
and stock from ``GET /v1/skus/{sku}``. The token (``--token`` or ``FLASHSTOCK_TOKEN``)
must be an admin's, or none on a loopback service without tokens.

Differences from the in-process target, because the service runs on the wall clock:
alerts are evaluated whenever its forecaster ticks, not at the simulator's show clock,
so their show-times vary a little from run to run; and an inbound transfer is sent when
it arrives (the service would count its arrival time on the wall clock).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from policies.channels.signing import webhook_headers
from policies.ledger import SkuSettings
from scripts.sim.target import Answer, Outbound, SimulationError, StepResult
from serve_app.backend import channel_secret

#: the most messages in one webhook request (the service takes up to 10,000)
MAX_MESSAGES_PER_REQUEST = 5_000


class HttpTarget:
    def __init__(
        self, base_url: str, channels: Sequence[str], *, token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        token = token or os.environ.get("FLASHSTOCK_TOKEN")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        missing = [c for c in channels if not channel_secret(c)]
        if missing:
            raise SimulationError(
                "the simulator signs each channel's orders as its platform would: set "
                + ", ".join(f"FLASHSTOCK_WEBHOOK_SECRET_{c.upper()}" for c in missing)
                + " here and for the service (flashstock serve), with the same values"
            )
        self.secrets = {c: channel_secret(c) or b"" for c in channels}
        self.pool = ThreadPoolExecutor(max(4, len(channels)), thread_name_prefix="sim-http")
        self.cursor = "-"
        self.skus: set[str] = set()
        self._inbound: dict[str, list[tuple[float, int, str]]] = {}
        try:
            self._call("get", "/healthz")
        except SimulationError as error:
            raise SimulationError(f"no flashstock service at {self.url}: {error}") from None

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        try:
            response = self.session.request(method, self.url + path, json=body, timeout=self.timeout, **kw)
        except requests.RequestException as error:
            raise SimulationError(f"{method.upper()} {self.url + path}: {error}") from None
        if response.status_code in (401, 403):
            raise SimulationError(f"{method.upper()} {path}: {_refusal(response)}")
        if response.status_code >= 400:
            raise SimulationError(
                f"{method.upper()} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def define(self, catalogue: Sequence[tuple[SkuSettings, int]]) -> None:
        for settings, on_hand in catalogue:
            self.skus.add(settings.sku)
            self._call(
                "put",
                f"/v1/skus/{settings.sku}",
                {
                    "name": settings.name,
                    "on_hand": on_hand,
                    "lead_time_minutes": settings.lead_time_minutes,
                    "purchase_limit": settings.purchase_limit,
                    "reservation_ttl_seconds": settings.reservation_ttl_seconds,
                    "substitutes": list(settings.substitutes),
                    "safety_floor": settings.safety_floor,
                    "critical_floor": settings.critical_floor,
                    "on_sale_since": settings.on_sale_since,
                    "on_sale_until": settings.on_sale_until,
                },
            )

    def restock(self, sku: str, quantity: int, transfer_id: str, arrives_at: float | None) -> None:
        if arrives_at is not None:  # sent on arrival: the service's clock is the wall clock
            self._inbound.setdefault(sku, []).append((arrives_at, quantity, transfer_id))
            return
        self._call(
            "post",
            f"/v1/skus/{sku}/restock",
            {"quantity": quantity, "transfer_id": transfer_id, "source": "simulation"},
        )

    def receive(self, sku: str, as_of: float) -> None:
        due = [t for t in self._inbound.get(sku, []) if t[0] <= as_of]
        self._inbound[sku] = [t for t in self._inbound.get(sku, []) if t[0] > as_of]
        for _, quantity, transfer_id in due:
            self.restock(sku, quantity, transfer_id, None)

    def send(self, messages: Sequence[Outbound]) -> list[Answer]:
        batches: dict[str, list[Outbound]] = {}
        for message in messages:
            batches.setdefault(message.channel, []).append(message)
        requests_ = [
            (channel, batch[i : i + MAX_MESSAGES_PER_REQUEST])
            for channel, batch in batches.items()
            for i in range(0, len(batch), MAX_MESSAGES_PER_REQUEST)
        ]
        answers: list[Answer] = []
        for found in self.pool.map(lambda job: self._webhook(*job), requests_):
            answers += found
        return answers

    def _webhook(self, channel: str, batch: Sequence[Outbound]) -> list[Answer]:
        body = ("[" + ",".join(m.body for m in batch) + "]").encode()
        started = time.perf_counter()
        result = self._call(
            "post",
            f"/v1/channels/{channel}/orders",
            data=body,
            headers={
                "Content-Type": "application/json",
                **webhook_headers(self.secrets[channel], f"msg_{uuid.uuid4().hex}", int(time.time()), body),
            },
        )
        ms = (time.perf_counter() - started) * 1000
        answers = [
            Answer(channel, "order", d["order_id"], d["accepted"], d["reason"], ms)
            for d in result["decisions"]
        ]
        answers += [
            Answer(channel, n["kind"], n["order_id"], n["accepted"], n["reason"], ms)
            for n in result["notices"]
        ]
        answers += [
            Answer(channel, "dead", d.get("order_id", ""), False, d["reason"], ms)
            for d in result["dead_lettered"]
        ]
        return answers

    def end_step(self, at: float, skus: Sequence[str]) -> StepResult:
        notes: list[dict[str, Any]] = []
        while True:
            page = self._call(
                "get", "/v1/alerts", params={"state": "history", "after": self.cursor, "limit": 1000}
            )
            items = page["items"] if isinstance(page, dict) else page
            for item in items:
                self.cursor = item["event_id"]
                if item["alert"]["sku"] in self.skus:
                    notes.append(item)
            if len(items) < 1000:
                break
        return StepResult(notes, self._views(skus))

    def _views(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        return dict(zip(skus, self.pool.map(lambda s: self._call("get", f"/v1/skus/{s}"), skus), strict=True))

    def audit(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for sku, view in self._views(skus).items():
            found[sku] = {k: view[k] for k in ("on_hand", "reserved", "sold", "available")}
            found[sku] |= {"inbound": view["inbound_units"], "oversold": view["oversold"]}
        return found

    def remove_skus(self) -> dict[str, Any]:
        """Take the show's SKUs out of the service's catalogue (``DELETE /v1/skus/{sku}``):
        what was removed, what stays and why (a SKU that still holds reservations is
        refused; a service without the route keeps them all, under the run's prefix)."""
        removed, kept, why = [], [], ""
        for sku in sorted(self.skus):
            try:
                response = self.session.delete(f"{self.url}/v1/skus/{sku}", timeout=self.timeout)
            except requests.RequestException as error:
                kept.append(sku)
                why = str(error)
                continue
            if response.status_code < 300:
                removed.append(sku)
            else:
                kept.append(sku)
                why = (
                    "the service has no DELETE /v1/skus/{sku}"
                    if response.status_code in (404, 405)
                    else "a SKU still holds reservations; they expire within its TTL"
                    if response.status_code == 409
                    else f"HTTP {response.status_code} {response.text[:200]}"
                )
        return {"removed": removed, "kept": kept, "why": why}

    def close(self) -> None:
        self.pool.shutdown()
        self.session.close()


def _refusal(response: requests.Response) -> str:
    """What to do about a 401 or 403: a signature the service does not share, or a token
    it does not know or that may not do this."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = str(body.get("code", "")) if isinstance(body, dict) else ""
    said = str(body.get("message", "")) if isinstance(body, dict) else ""
    head = f"HTTP {response.status_code} {code or 'refused'}" + (f" ({said})" if said else "")
    if "signature" in code:
        return (
            f"{head}: the service has another FLASHSTOCK_WEBHOOK_SECRET_<CHANNEL> for this channel, or "
            "none; start flashstock serve and the simulator with the same secret"
        )
    return f"{head}: an HTTP simulation needs an admin token (--token or FLASHSTOCK_TOKEN)"
