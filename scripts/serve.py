"""``flashstock serve``: the whole service on one machine, with no setup.

Starts (or joins, with ``--address`` / ``RAY_ADDRESS``) Ray, uses ``REDIS_URL`` or an
embedded Redis, starts the SKU owners, the forecaster with the alert hub, one ingest
actor per channel, ChannelSync (equal channel shares), and the Ray Serve HTTP app (API, SSE, dashboard) on
``--host``/``--port``. ``--catalog`` loads SKUs from YAML or JSON. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

import ray
import yaml
from ray import serve

from actors.bootstrap import start_system, stop_system
from actors.infra.runtime import DEFAULT_DATA_DIR, ray_for, redis_for
from actors.infra.settings import StoreConfig
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from serve_app.app import build_app
from serve_app.auth import TokenBook, is_loopback
from serve_app.backend import AppArgs, channel_secret

CATALOG_FIELDS = (
    "name",
    "lead_time_minutes",
    "purchase_limit",
    "reservation_ttl_seconds",
    "substitutes",
    "safety_floor",
    "critical_floor",
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("serve", help="run the service: HTTP API, SSE and dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default=None, help="join this Ray cluster (or RAY_ADDRESS)")
    parser.add_argument("--shards", type=int, default=2, help="SKU owner actors")
    parser.add_argument("--namespace", default="fs", help="Redis key namespace")
    parser.add_argument("--catalog", type=Path, default=None, help="SKUs to load (YAML or JSON)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.set_defaults(run=run)


def load_catalog(path: Path) -> list[tuple[SkuSettings, int]]:
    """``{skus: [{sku, on_hand, ...}]}``, ``[{sku, ...}]`` or ``{SKU: {on_hand, ...}}``."""
    data = (
        yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    )
    if isinstance(data, dict) and "skus" in data:
        data = data["skus"]
    items = [{"sku": sku, **spec} for sku, spec in data.items()] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of SKUs or a mapping of SKU to settings")
    catalog = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or "sku" not in item:
            raise ValueError(f"{path}: entry {position} needs a 'sku'")
        unknown = set(item) - {"sku", "on_hand", *CATALOG_FIELDS}
        if unknown:
            raise ValueError(f"{path}: entry {position} ({item['sku']}): unknown {sorted(unknown)}")
        settings: dict[str, Any] = {
            k: tuple(v) if k == "substitutes" else v for k, v in item.items() if k in CATALOG_FIELDS
        }
        catalog.append((SkuSettings(str(item["sku"]), **settings), int(item.get("on_hand", 0))))
    return catalog


def run(args: argparse.Namespace) -> int:
    if not TokenBook.from_env().enabled and not is_loopback(args.host):
        print(
            f"refusing to bind {args.host} without tokens: set FLASHSTOCK_TOKENS "
            "(role:name:token,...) or use --host 127.0.0.1"
        )
        return 2
    catalog = load_catalog(args.catalog) if args.catalog else []
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with redis_for(args.data_dir) as redis_url, ray_for(args.address, log_level=args.log_level):
        app_args = AppArgs(redis_url=redis_url, namespace=args.namespace, shard_count=args.shards)
        config = StoreConfig(redis_url, args.namespace, args.shards)
        system = start_system(
            config, app_args.channels, secrets={c: s for c in app_args.channels if (s := channel_secret(c))}
        )
        if catalog:
            decisions = system.client.submit([DefineSku(settings, units) for settings, units in catalog])
            ray.get(system.forecaster.update_skus.remote([settings for settings, _ in catalog]))
            rejected = [d for d in decisions if not d.accepted]
            for decision in rejected:
                print(f"catalog: {decision.sku}: {decision.reason}: {decision.detail}")
        serve.start(http_options={"host": args.host, "port": args.port})
        serve.run(build_app(app_args), name="flashstock", route_prefix="/")
        tokens = "with tokens" if TokenBook.from_env().enabled else "no tokens: loopback only"
        print(
            f"flashstock is serving on http://{args.host}:{args.port}/ ({tokens}); "
            f"API docs at /docs; Ctrl-C stops"
        )
        stop.wait()
        print("stopping")
        serve.shutdown()  # type: ignore[no-untyped-call]  # Ray Serve leaves it unannotated
        stop_system(system)
    return 0
