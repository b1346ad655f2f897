"""The front door over real HTTP and Ray Serve: held and slow connections, streamed
oversize bodies, Host and Origin checks, where tokens are taken, bad SSE resume ids and
history cursors."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from tests.e2e.conftest import TOKENS, Service
from tests.support import read_http_answer

DEADLINE = 3.0  # seconds a health check or a GET may take while others hold connections


def connect(service: Service) -> socket.socket:
    address = urlsplit(service.url)
    return socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=15)


def send_head(sock: socket.socket, service: Service, head: str, headers: dict[str, str]) -> None:
    host = urlsplit(service.url).netloc
    lines = [head, f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    sock.sendall("\r\n".join(lines).encode())


@contextmanager
def held(count: int) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()
        assert len(sockets) == count


def restock() -> dict[str, int | str]:
    return {"quantity": 1, "transfer_id": uuid.uuid4().hex}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def test_held_connections_never_stall_health_or_another_clients_get(service: Service) -> None:
    sku = service.new_sku(prefix="DOOR", name="门")
    with held(64) as sockets:
        for _ in range(32):  # a chunked order body that never ends
            sock = connect(service)
            sockets.append(sock)
            chunked = {**bearer("ingest"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            send_head(sock, service, "POST /v1/orders HTTP/1.1", chunked)
            sock.sendall(b"1\r\n{\r\n")
        for _ in range(16):  # 1000 bytes announced, one sent
            sock = connect(service)
            sockets.append(sock)
            announced = {**bearer("ingest"), "Content-Type": "application/json", "Content-Length": "1000"}
            send_head(sock, service, "POST /v1/orders HTTP/1.1", announced)
            sock.sendall(b"{")
        streams = []
        for _ in range(16):  # a viewer's SSE streams
            sock = connect(service)
            sockets.append(sock)
            streams.append(sock)
            send_head(sock, service, "GET /v1/alerts/stream HTTP/1.1", bearer("viewer"))
        statuses = [read_http_answer(sock, timeout=15)[0] for sock in streams]
        assert set(statuses) <= {200, 429}
        assert statuses.count(200) <= 5  # the per-client cap
        assert 429 in statuses
        for _ in range(3):
            started = time.monotonic()
            assert requests.get(service.url + "/healthz", timeout=DEADLINE).status_code == 200
            view = requests.get(service.url + f"/v1/skus/{sku}", headers=bearer("viewer"), timeout=DEADLINE)
            assert view.status_code == 200
            assert time.monotonic() - started < DEADLINE


def test_an_oversize_chunked_body_without_a_token_is_refused_before_it_is_read(service: Service) -> None:
    sock = connect(service)
    with held(1) as sockets:
        sockets.append(sock)
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        send_head(sock, service, "POST /v1/orders HTTP/1.1", headers)
        sock.sendall(b"1\r\n{\r\n")  # the rest of the body never comes, yet the answer does
        status, _, body = read_http_answer(sock, timeout=10)
    assert (status, json.loads(body)["code"]) == (401, "unauthorized")


def test_a_chunked_body_over_the_limit_is_refused_with_413(service: Service) -> None:
    chunk = b"x" * 65536
    chunks = 2 * 1024 * 1024 // len(chunk) + 2  # over the e2e limit of 2 MiB, no Content-Length
    sock = connect(service)
    with held(1) as sockets:
        sockets.append(sock)
        headers = {**bearer("ingest"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        send_head(sock, service, "POST /v1/orders HTTP/1.1", headers)
        try:
            for _ in range(chunks):
                sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the service answered and stopped reading: the answer is what counts
        status, _, body = read_http_answer(sock, timeout=15)
    assert (status, json.loads(body)["code"]) == (413, "payload_too_large")


def test_a_state_change_from_another_site_is_refused(service: Service) -> None:
    sku = service.new_sku(prefix="DOOR", name="门")
    path = service.url + f"/v1/skus/{sku}/restock"
    cross_site = requests.post(
        path, json=restock(), headers={**bearer("operator"), "Origin": "https://evil.example"}, timeout=30
    )
    assert (cross_site.status_code, cross_site.json()["code"]) == (403, "bad_origin")
    referer = {**bearer("operator"), "Referer": "https://evil.example/page"}
    assert requests.post(path, json=restock(), headers=referer, timeout=30).status_code == 403
    same_origin = requests.post(
        path, json=restock(), headers={**bearer("operator"), "Origin": service.url}, timeout=30
    )
    assert same_origin.status_code == 200, same_origin.text
    assert requests.post(path, json=restock(), headers=bearer("operator"), timeout=30).status_code == 200
    assert service.get(f"/v1/skus/{sku}").json()["on_hand"] == 12


def test_a_foreign_host_header_is_refused(service: Service) -> None:
    for path in ("/healthz", "/v1/skus"):
        response = requests.get(
            service.url + path, headers={**bearer("admin"), "Host": "evil.example"}, timeout=30
        )
        assert (response.status_code, response.json()["code"]) == (400, "bad_host")


def test_access_token_in_the_query_opens_only_the_alert_stream(service: Service) -> None:
    query = {"access_token": TOKENS["viewer"]}
    refused = requests.get(service.url + "/v1/skus", params=query, timeout=30)
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    with requests.get(service.url + "/v1/alerts/stream", params=query, stream=True, timeout=30) as stream:
        assert stream.status_code == 200


def test_bad_resume_ids_and_history_cursors_are_422(service: Service) -> None:
    for bad in ("-", "12345678901234567890-0", "garbage", "1-"):
        headers = {**bearer("viewer"), "Last-Event-ID": bad}
        with requests.get(
            service.url + "/v1/alerts/stream", headers=headers, stream=True, timeout=10
        ) as answer:
            assert answer.status_code == 422, bad
            assert answer.json()["code"] == "validation_error"
    for cursor in ("99999999999999999999", "18446744073709551616-0", "1-", "x"):
        history = service.get("/v1/alerts", params={"state": "history", "after": cursor})
        assert (history.status_code, history.json()["code"]) == (422, "validation_error"), cursor


def test_a_body_that_does_not_arrive_in_time_is_answered_408(service: Service) -> None:
    sock = connect(service)
    with held(1) as sockets:
        sockets.append(sock)
        headers = {**bearer("ingest"), "Content-Type": "application/json", "Content-Length": "1000"}
        send_head(sock, service, "POST /v1/orders HTTP/1.1", headers)
        sock.sendall(b"{")
        status, _, body = read_http_answer(sock, timeout=30)  # the default body timeout is 10 s
    assert (status, json.loads(body)["code"]) == (408, "request_timeout")


def test_an_oversize_content_length_is_413_at_once_even_with_expect_100_continue(service: Service) -> None:
    for expect in ({}, {"Expect": "100-continue"}):
        sock = connect(service)
        with held(1) as sockets:
            sockets.append(sock)
            announced = {**bearer("ingest"), "Content-Type": "application/json", **expect}
            send_head(sock, service, "POST /v1/orders HTTP/1.1", {**announced, "Content-Length": "3000000"})
            started = time.monotonic()
            # the body timeout is 10 s: not waited for. Ray Serve's HTTP server may say
            # "100 Continue" first (it reads for the app); the refusal follows at once
            status, body = final_answer(sock, timeout=8)
        assert status == 413, (expect, status, body)
        assert json.loads(body)["code"] == "payload_too_large", expect
        assert "3000000 bytes (Content-Length)" in json.loads(body)["message"]
        assert time.monotonic() - started < 8


def final_answer(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """Status and (Content-Length) body of the answer on ``sock`` after any interim
    ``100 Continue``."""
    sock.settimeout(timeout)
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            assert part, f"connection closed before an answer: {data!r}"
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        if status != 100:
            break
        data = body
    lengths = [
        line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    while len(body) < int(lengths[0] if lengths else 0):
        part = sock.recv(65536)
        assert part, "connection closed inside the body"
        body += part
    return status, body


def test_a_text_or_compressed_order_body_is_415_naming_what_is_wrong(service: Service) -> None:
    orders = service.url + "/v1/orders"
    plain = {**bearer("ingest"), "Content-Type": "text/plain"}
    as_text = requests.post(orders, data=b'{"orders": []}', headers=plain, timeout=30)
    assert (as_text.status_code, as_text.json()["code"]) == (415, "unsupported_media_type")
    assert "'text/plain'" in as_text.json()["message"]
    assert "application/json" in as_text.json()["message"]
    gzipped = {**bearer("ingest"), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    compressed = requests.post(orders, data=gzip.compress(b'{"orders": []}'), headers=gzipped, timeout=30)
    assert (compressed.status_code, compressed.json()["code"]) == (415, "unsupported_media_type")
    assert "'gzip'" in compressed.json()["message"]


def test_a_read_carrying_a_body_is_400_and_no_stream_opens(service: Service) -> None:
    sock = connect(service)
    with held(1) as sockets:
        sockets.append(sock)
        chunked = {**bearer("viewer"), "Transfer-Encoding": "chunked"}
        send_head(sock, service, "GET /v1/alerts/stream HTTP/1.1", chunked)
        sock.sendall(b"1\r\nx\r\n")  # a body that never ends: Serve would read it while the stream lasts
        status, body = final_answer(sock, timeout=10)
    assert (status, json.loads(body)["code"]) == (400, "body_not_allowed")
    assert json.loads(body)["message"] == "a GET request takes no body"
