"""``flashstock serve`` as an operator runs it, in a process of its own with its own data
directory and Ray: its secrets appear in no log, its Ray listens on loopback only, its
embedded Redis is restarted when it dies and stops with the service."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from actors.infra.redis_server import free_port
from policies.channels.signing import webhook_headers
from tests.support import running, wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"
VIEWER_TOKEN = f"viewer-{uuid.uuid4().hex}"
INGEST_TOKEN = f"ingest-{uuid.uuid4().hex}"
WEBHOOK_SECRET = f"hook-{uuid.uuid4().hex}"
SECRETS = (ADMIN_TOKEN, VIEWER_TOKEN, INGEST_TOKEN, WEBHOOK_SECRET)


class Served(NamedTuple):
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    ray_dir: Path
    output: Path


def redis_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "redis" / "redis.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if running(pid) else None


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found = {root}
    grew = True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in found} - found
        found |= new
        grew = bool(new)
    return found


def answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    work = Path(tempfile.mkdtemp(prefix="fsserve", dir="/tmp"))  # short: Ray's socket paths
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLASHSTOCK_", "RAY_ADDRESS", "REDIS_URL"))
    }
    env |= {
        "FLASHSTOCK_TOKENS": ",".join(
            [f"admin:ada:{ADMIN_TOKEN}", f"viewer:vera:{VIEWER_TOKEN}", f"ingest:douyin:{INGEST_TOKEN}"]
        ),
        "FLASHSTOCK_WEBHOOK_SECRET_DOUYIN": WEBHOOK_SECRET,
        "RAY_TMPDIR": str(work / "ray"),
    }
    output = work / "serve.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "scripts.cli", "--log-level", "INFO", "serve"),
                *("--port", str(port), "--data-dir", str(work / "data"), "--shards", "1"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url) or process.poll() is not None, timeout=180, message="flashstock serve")
        assert process.poll() is None, output.read_text()[-3000:]
        yield Served(url, process, work / "data", work / "ray", output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def use_the_service(served: Served) -> None:
    sku = f"S{uuid.uuid4().hex[:8]}"
    put = requests.put(
        f"{served.url}/v1/skus/{sku}", json={"on_hand": 5}, headers=auth(ADMIN_TOKEN), timeout=30
    )
    assert put.status_code in (200, 201), put.text
    assert requests.get(f"{served.url}/v1/skus/{sku}", timeout=30).status_code == 401
    assert (
        requests.get(f"{served.url}/v1/skus/{sku}", headers=auth(VIEWER_TOKEN), timeout=30).status_code == 200
    )
    data = {
        "p_id": 880001,
        "create_time": int(time.time()),
        "sku_order_list": [{"out_sku_id": sku, "item_num": 1, "pay_amount": 100}],
    }
    body = json.dumps([{"tag": "100", "data": json.dumps(data)}]).encode()
    headers = {
        **auth(INGEST_TOKEN),
        "Content-Type": "application/json",
        **webhook_headers(WEBHOOK_SECRET.encode(), "msg_1", int(time.time()), body),
    }
    signed = requests.post(f"{served.url}/v1/channels/douyin/orders", data=body, headers=headers, timeout=30)
    assert signed.status_code == 200, signed.text


def test_ray_of_a_local_service_listens_on_loopback_only(served: Served) -> None:
    pids = descendants(served.process.pid)
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    ours = [
        (line.split()[3], line.split()[-1])
        for line in listening.splitlines()
        if any(int(pid) in pids for pid in re.findall(r"pid=(\d+)", line))
    ]
    assert ours, listening
    beyond = [(a, who) for a, who in ours if not re.match(r"^(127\.|\[::1\]|\[::ffff:127\.)", a)]
    # the one exception Ray 2.60 gives no switch for: a Serve replica's inter-deployment
    # gRPC server binds "[::]:0" (ray/serve/_private/replica.py); see docs/cluster.md
    assert [(a, who) for a, who in beyond if "ray::ServeRepli" not in who] == [], beyond


def test_secrets_reach_replicas_as_a_private_file_with_token_digests(served: Served) -> None:
    use_the_service(served)
    secrets_file = served.data_dir / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    content = secrets_file.read_text()
    assert ADMIN_TOKEN not in content
    assert "sha256:" in content


def test_embedded_redis_that_dies_is_restarted_on_the_same_data(served: Served) -> None:
    sku = f"R{uuid.uuid4().hex[:8]}"
    requests.put(f"{served.url}/v1/skus/{sku}", json={"on_hand": 7}, headers=auth(ADMIN_TOKEN), timeout=30)
    first = redis_pid(served.data_dir)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: redis_pid(served.data_dir) not in (None, first), timeout=30, message="a new redis-server"
    )

    def stock_is_back() -> bool:
        try:
            got = requests.get(f"{served.url}/v1/skus/{sku}", headers=auth(VIEWER_TOKEN), timeout=5)
        except requests.RequestException:
            return False
        return got.status_code == 200 and got.json()["on_hand"] == 7

    def writes_work() -> bool:
        later = f"W{uuid.uuid4().hex[:8]}"
        try:
            put = requests.put(
                f"{served.url}/v1/skus/{later}", json={"on_hand": 1}, headers=auth(ADMIN_TOKEN), timeout=5
            )
        except requests.RequestException:
            return False
        return put.status_code in (200, 201)

    wait_for(stock_is_back, timeout=60, message="the SKU through the restarted Redis")
    wait_for(writes_work, timeout=60, interval=1.0, message="a write through the restarted Redis")
    assert served.process.poll() is None


def test_stop_leaves_no_redis_no_secrets_file_and_no_secret_in_any_log(served: Served) -> None:
    use_the_service(served)
    server = redis_pid(served.data_dir)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=120) == 0, served.output.read_text()[-3000:]
    assert server is not None
    wait_for(lambda: not running(server), timeout=20, message="redis-server to stop")
    assert not (served.data_dir / "secrets.json").exists()
    files = [served.output, *(p for p in served.ray_dir.rglob("*") if p.is_file() and not p.is_symlink())]
    assert any("runtime_env" in p.name for p in files), "Ray's logs were not found"
    leaks = [
        (str(path), secret[:6])
        for path in files
        for secret in SECRETS
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == []
