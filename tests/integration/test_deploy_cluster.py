"""Ray's deployment path on a real two-node Ray cluster: ``serve run`` of the shipped Serve
config brings up the whole system (the replica's bootstrap starts owners, ingest actors,
forecaster and sync, detached, one owner per node) and answers; ``flashstock down``
removes exactly those actors and ``flashstock up`` starts them again from a driver that
exits. The cluster runs in a process of its own (this session's Ray stays untouched)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from actors.infra.redis_server import RedisServer, free_port
from tests.support import fresh_namespace, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CLUSTER = textwrap.dedent(
    """
    import sys
    from ray.cluster_utils import Cluster
    from scripts.loadgen.cluster import NODE_ARGS
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE_ARGS))
    cluster.add_node(**NODE_ARGS)
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    cluster.shutdown()
    """
)


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[str]:
    """The address of a head and one worker node, each a real raylet."""
    holder = subprocess.Popen(
        [sys.executable, "-c", CLUSTER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "cluster.log").open("w"),
        text=True,
        start_new_session=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    address = holder.stdout.readline().strip()
    assert address, (tmp_path / "cluster.log").read_text()[-2000:]
    yield address
    holder.stdin.close()
    try:
        holder.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def ready(url: str) -> dict[str, Any] | None:
    try:
        response = requests.get(url + "/readyz", timeout=5)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None


def test_serve_run_brings_up_the_whole_system_and_up_down_manage_it(
    two_nodes: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    namespace, port = fresh_namespace(), free_port()
    config = yaml.safe_load((ROOT / "serve_app" / "serve.yaml").read_text())
    config["http_options"]["port"] = port
    config["applications"][0]["args"].update(redis_url=redis_server.url, namespace=namespace)
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "RAY_ADDRESS": two_nodes, "FLASHSTOCK_LOG_LEVEL": "warning"}
    for name in ("FLASHSTOCK_TOKENS", "FLASHSTOCK_SECRETS_FILE"):
        env.pop(name, None)
    server = subprocess.Popen(
        [str(BIN / "serve"), "run", str(tmp_path / "serve.yaml")],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        log = tmp_path / "serve.log"

        def settled() -> bool:
            failed = server.poll() is not None or "Deploying app 'flashstock' failed" in log.read_text()
            return failed or ready(url) is not None

        wait_for(settled, timeout=240, interval=0.5, message="serve run")
        checks = ready(url)
        assert checks is not None, log.read_text()[-3000:]
        owners = checks["owners"]
        assert [o["index"] for o in owners] == [0, 1]
        assert len({o["node"] for o in owners}) == 2, "one owner per node"
        sku = f"{namespace}-SKU"
        assert requests.put(f"{url}/v1/skus/{sku}", json={"on_hand": 3}, timeout=30).status_code in (200, 201)
        order: dict[str, Any] = {
            "channel": "douyin",
            "order_id": "o1",
            "placed_at": time.time(),
            "lines": [{"sku": sku, "quantity": 2}],
        }
        (decision,) = requests.post(f"{url}/v1/orders", json={"orders": [order]}, timeout=30).json()[
            "decisions"
        ]
        assert decision["accepted"], decision
        assert requests.get(f"{url}/v1/skus/{sku}", timeout=30).json()["available"] == 1
    finally:
        os.killpg(server.pid, signal.SIGINT)  # as Ctrl-C: serve run shuts the app down
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    # the actors were detached: they outlived the app; down removes each of them
    cli = [str(BIN / "flashstock"), "--log-level", "warning"]
    deployment = ["--redis-url", redis_server.url, "--namespace", namespace, "--shards", "2"]
    down = run(*cli, "down", *deployment, env=env)
    assert down.returncode == 0, down.stderr[-2000:]
    assert "removed 8 actors" in down.stdout  # 2 owners, 4 ingest, forecaster, sync
    assert "removed 0 actors" in run(*cli, "down", *deployment, env=env).stdout

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump([{"sku": f"{namespace}-NEW", "on_hand": 5}]))
    up = run(*cli, "up", *deployment, "--catalog", str(catalog), env=env)
    assert up.returncode == 0, up.stderr[-2000:]
    assert "1 of 1 catalogue SKUs defined" in up.stdout
    # up's driver has exited; its detached actors still run until down
    assert "removed 8 actors" in run(*cli, "down", *deployment, env=env).stdout
