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
from tests.e2e.conftest import Service
from tests.support import wait_for


def delete(service: Service, path: str, role: str = "operator") -> requests.Response:
    return requests.delete(service.url + path, headers=service.headers(role), timeout=30)


def sell(service: Service, sku: str, count: int) -> None:
    orders = [
        {
            "channel": "douyin",
            "order_id": f"{sku}-{n}",
            "placed_at": time.time(),
            "lines": [{"sku": sku, "quantity": 1}],
        }
        for n in range(count)
    ]
    assert service.post("/v1/orders", {"orders": orders}, role="ingest").status_code == 200


def new_sku(service: Service, prefix: str, on_hand: int = 10) -> str:
    sku = f"{prefix}-{uuid.uuid4().hex[:6]}"
    assert service.put(f"/v1/skus/{sku}", {"on_hand": on_hand, "critical_floor": 3}).status_code == 200
    return sku


def test_silences_are_listed_matched_by_pattern_and_lifted_early(service: Service) -> None:
    prefix = f"SIL{uuid.uuid4().hex[:4]}"
    body = {"sku": f"{prefix}-*", "level": "*", "channel": "*", "minutes": 20, "comment": "restock booked"}
    created = service.post("/v1/silences", body)
    assert created.status_code == 200
    silence = created.json()
    assert (silence["sku"], silence["channel"], silence["created_by"]) == (f"{prefix}-*", "*", "oliver")
    assert silence["until_wall"] - silence["created_wall"] == 20 * 60
    assert silence["id"] in {s["id"] for s in service.get("/v1/silences", role="operator").json()}

    muted, other = new_sku(service, prefix), new_sku(service, f"X{prefix}")
    sell(service, muted, 8)
    sell(service, other, 8)

    def notes(sku: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get(
            "/v1/alerts", params={"state": "history", "sku": sku}
        ).json()["items"]
        return items

    wait_for(lambda: bool(notes(muted)) and bool(notes(other)), message="both SKUs' notifications")
    assert all(n["silenced"] for n in notes(muted))
    assert not any(n["silenced"] for n in notes(other))  # the pattern is anchored

    assert delete(service, f"/v1/silences/{silence['id']}").status_code == 204
    assert silence["id"] not in {s["id"] for s in service.get("/v1/silences", role="operator").json()}
    again = delete(service, f"/v1/silences/{silence['id']}")
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
    assert delete(service, "/v1/silences/anything", role="viewer").status_code == 403


def test_history_has_the_minutes_and_markers_of_a_sale(service: Service) -> None:
    sku = new_sku(service, "HIST", on_hand=20)
    sell(service, sku, 18)

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
    for _ in range(3):
        stream = requests.get(
            service.url + "/v1/alerts/stream", headers=service.headers("viewer"), stream=True, timeout=30
        )
        assert next(stream.iter_lines()) == b"retry: 2000"
        stream.close()
    node = ray._private.worker._global_node  # this session's Ray (no public accessor for its logs)
    assert node is not None
    logs = Path(node.get_logs_dir_path())
    proxy_logs = list((logs / "serve").glob("proxy_*.log"))

    def proxy_saw_them_leave() -> bool:
        return (
            sum(p.read_text(errors="replace").count("disconnected, cancelling request") for p in proxy_logs)
            >= 3
        )

    wait_for(proxy_saw_them_leave, message="the proxy noticing the clients left")
    # the replica's log (serve/replica_*.log and the worker's stderr) says nothing of it
    for path in [*logs.glob("serve/replica_*"), *logs.glob("worker-*.err")]:
        content = path.read_text(errors="replace")
        assert "CancelledError" not in content, path
        assert "alert_stream" not in content or "Traceback" not in content, path


def test_a_sku_is_removed_only_once_its_orders_are_settled(service: Service) -> None:
    sku = new_sku(service, "GONE", on_hand=5)
    sell(service, sku, 2)

    held = delete(service, f"/v1/skus/{sku}", role="admin")
    assert (held.status_code, held.json()["code"]) == (409, "sku_in_use")
    assert "2 units reserved by 2 open order line(s)" in held.json()["message"]
    assert delete(service, f"/v1/skus/{sku}", role="operator").status_code == 403
    for n in range(2):
        assert service.post(f"/v1/orders/douyin/{sku}-{n}/cancel", role="ingest").status_code == 200

    assert delete(service, f"/v1/skus/{sku}", role="admin").status_code == 204
    assert service.get(f"/v1/skus/{sku}").status_code == 404
    assert sku not in {s["sku"] for s in service.get("/v1/skus", params={"limit": 500}).json()["items"]}
    again = delete(service, f"/v1/skus/{sku}", role="admin")
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
    sku = new_sku(service, "VIS", on_hand=9)
    assert service.get(f"/v1/skus/{sku}").json()["visible"] == {}
    sync = RedisSyncStore(service.config)  # what the channel sync publishes
    try:
        sync.publish([("douyin", sku, 6), ("taobao", sku, 3)])
    finally:
        sync.close()
    assert service.get(f"/v1/skus/{sku}").json()["visible"] == {"douyin": 6, "taobao": 3}
    listed = service.get("/v1/skus", params={"limit": 500}).json()["items"]
    assert next(s for s in listed if s["sku"] == sku)["visible"] == {"douyin": 6, "taobao": 3}
