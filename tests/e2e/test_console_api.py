"""The API the operators' console needs, over real HTTP: silences with matchers (create,
list, lift early), a SKU's per-minute history with alert markers, API docs served from
the app's own assets, and SSE clients that leave without a traceback in the logs."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import ray
import requests

from actors.sync.store import RedisSyncStore
from serve_app.guards.checks import FrontDoorArgs
from tests.e2e.conftest import Service
from tests.support import wait_for


def test_silences_are_listed_matched_by_pattern_and_lifted_early(service: Service) -> None:
    prefix = f"SIL{uuid.uuid4().hex[:4]}"
    body = {"sku": f"{prefix}-*", "level": "*", "channel": "*", "minutes": 20, "comment": "restock booked"}
    created = service.post("/v1/silences", body)
    assert created.status_code == 200
    silence = created.json()
    assert (silence["sku"], silence["channel"], silence["created_by"]) == (f"{prefix}-*", "*", "oliver")
    assert silence["until_wall"] - silence["created_wall"] == 20 * 60
    assert silence["id"] in {s["id"] for s in service.get("/v1/silences", role="operator").json()}

    muted, other = (
        service.new_sku(10, prefix=prefix, critical_floor=3),
        service.new_sku(10, prefix=f"X{prefix}", critical_floor=3),
    )
    service.sell(muted, 8)
    service.sell(other, 8)

    def notes(sku: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get(
            "/v1/alerts", params={"state": "history", "sku": sku}
        ).json()["items"]
        return items

    wait_for(lambda: bool(notes(muted)) and bool(notes(other)), message="both SKUs' notifications")
    assert all(n["silenced"] for n in notes(muted))
    assert not any(n["silenced"] for n in notes(other))  # the pattern is anchored

    assert service.delete(f"/v1/silences/{silence['id']}").status_code == 204
    assert silence["id"] not in {s["id"] for s in service.get("/v1/silences", role="operator").json()}
    again = service.delete(f"/v1/silences/{silence['id']}")
    assert (again.status_code, again.json()["code"]) == (404, "unknown_silence")


def test_silence_requests_are_checked(service: Service) -> None:
    unknown = service.post("/v1/silences", {"channel": "myspace", "minutes": 5})
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
        422,
        "unknown_channel",
        "channel",
    )
    assert service.post("/v1/silences", {"level": "LOUD", "minutes": 5}).status_code == 422
    assert service.get("/v1/silences", role="viewer").status_code == 403
    assert service.delete("/v1/silences/anything", role="viewer").status_code == 403


def test_history_has_the_minutes_and_markers_of_a_sale(service: Service) -> None:
    sku = service.new_sku(20, prefix="HIST", critical_floor=3)
    service.sell(sku, 18)

    def history() -> dict[str, Any]:
        answer: dict[str, Any] = service.get(f"/v1/skus/{sku}/history", params={"minutes": 30}).json()
        return answer

    wait_for(lambda: bool(history()["markers"]), message="alert markers")
    found = history()
    assert found["complete"]
    assert found["step_seconds"] == 60
    last = found["points"][-1]
    assert (last["on_hand"], last["reserved"], last["available"]) == (20, 18, 2)
    assert sum(p["ordered"] for p in found["points"]) == 18
    assert {m["level"] for m in found["markers"]} >= {"EMERGENCY"}
    assert all(found["since"] <= m["at"] <= found["until"] for m in found["markers"])

    missing = service.get("/v1/skus/NO-SUCH-SKU/history")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sku")
    assert service.get(f"/v1/skus/{sku}/history", params={"minutes": 0}).status_code == 422
    assert service.get(f"/v1/skus/{sku}/history", params={"minutes": 1441}).status_code == 422


def test_api_docs_load_only_the_apps_own_assets(service: Service) -> None:
    for page in ("/docs", "/redoc"):
        html = service.get(page, role=None).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets
        assert all(a.startswith("/static/vendor/") for a in assets), assets
        assert "https://" not in html
        for asset in assets:
            assert service.get(asset, role=None).status_code == 200


def test_an_sse_client_leaving_leaves_no_traceback(service: Service) -> None:
    def open_streams(count: int) -> list[requests.Response]:
        return [
            requests.get(
                service.url + "/v1/alerts/stream", headers=service.headers("viewer"), stream=True, timeout=30
            )
            for _ in range(count)
        ]

    for stream in open_streams(3):
        assert next(stream.iter_lines()) == b"retry: 2000"
        stream.close()
    share = FrontDoorArgs().max_streams_per_client

    def service_saw_them_leave() -> bool:
        # streams are budgeted per client: its whole share opens only once the service
        # has given back the streams of the clients that left
        streams = open_streams(share)
        try:
            return all(s.status_code == 200 for s in streams)
        finally:
            for stream in streams:
                stream.close()

    wait_for(service_saw_them_leave, interval=0.2, message="the service noticing the clients left")
    node = ray._private.worker._global_node  # this session's Ray (no public accessor for its logs)
    assert node is not None
    logs = Path(node.get_logs_dir_path())
    # the replica's log (serve/replica_*.log and the worker's stderr) says nothing of it
    for path in [*logs.glob("serve/replica_*"), *logs.glob("worker-*.err")]:
        content = path.read_text(errors="replace")
        assert "CancelledError" not in content, path
        assert "alert_stream" not in content or "Traceback" not in content, path


def test_a_sku_is_removed_only_once_its_orders_are_settled(service: Service) -> None:
    sku = service.new_sku(5, prefix="GONE", critical_floor=3)
    service.sell(sku, 2)

    held = service.delete(f"/v1/skus/{sku}", role="admin")
    assert (held.status_code, held.json()["code"]) == (409, "sku_in_use")
    assert "2 units reserved by 2 open order line(s)" in held.json()["message"]
    assert service.delete(f"/v1/skus/{sku}", role="operator").status_code == 403
    for n in range(2):
        assert service.post(f"/v1/orders/douyin/{sku}-{n}/cancel", role="ingest").status_code == 200

    assert service.delete(f"/v1/skus/{sku}", role="admin").status_code == 204
    assert service.get(f"/v1/skus/{sku}").status_code == 404
    assert sku not in {s["sku"] for s in service.get("/v1/skus", params={"limit": 500}).json()["items"]}
    again = service.delete(f"/v1/skus/{sku}", role="admin")
    assert (again.status_code, again.json()["code"]) == (404, "unknown_sku")
    late = service.post(
        "/v1/orders",
        {
            "orders": [
                {
                    "channel": "douyin",
                    "order_id": "late",
                    "placed_at": time.time(),
                    "lines": [{"sku": sku, "quantity": 1}],
                }
            ]
        },
        role="ingest",
    )
    assert late.json()["decisions"][0]["reason"] == "unknown_sku"


def test_a_sku_shows_what_each_channel_may_sell(service: Service) -> None:
    sku = service.new_sku(9, prefix="VIS", critical_floor=3)
    assert service.get(f"/v1/skus/{sku}").json()["visible"] == {}
    sync = RedisSyncStore(service.config)  # what the channel sync publishes
    try:
        sync.publish([("douyin", sku, 6), ("taobao", sku, 3)])
    finally:
        sync.close()
    assert service.get(f"/v1/skus/{sku}").json()["visible"] == {"douyin": 6, "taobao": 3}
    listed = service.get("/v1/skus", params={"limit": 500}).json()["items"]
    assert next(s for s in listed if s["sku"] == sku)["visible"] == {"douyin": 6, "taobao": 3}
