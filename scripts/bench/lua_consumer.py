"""The same-work contender of ``flashstock bench``: what a team would build in an afternoon
instead of flashstock, doing the same job end to end.

One consumer process per channel (as flashstock runs one ingest actor per channel)
reads the same platform messages from the same kind of inbox streams through a consumer
group, parses them with the same channel adapters (``policies.channels.parse_message``),
runs one Lua check-and-decrement per order (``SAME_WORK_LUA``: an idempotency key, every
line of the order all or nothing, the decision appended to a ledger stream), pipelined
per batch, then publishes the batch's decisions to the channel's decision stream and
acknowledges its inbox entries in one more pipelined round trip. Redis is the same,
with the same AOF ``appendfsync always``.

What it does not do and flashstock does: payments and cancellations by order id, dead
letters (an unreadable message is acknowledged and dropped), reservations with expiry,
the forecaster feed and the alerts; its published decision is an order id and an answer
per line, not flashstock's decision record. The comparison is on orders only, so it
favours this contender.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from actors.infra.codec import entry_time_ms, text
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient, connect
from actors.ingest.core import DEFAULT_BATCH_SIZE, GROUP
from policies.channels import PlatformOrder, parse_message
from scripts.loadgen.streams import last_entry_id

#: one order: its idempotency key is KEYS[1], its ledger stream KEYS[2], its lines' stock
#: hashes KEYS[3..]; ARGV[1] the order id, ARGV[2..] the lines' quantities. Answers 1
#: accepted, 0 rejected (nothing taken), 2 already decided (its first answer stands).
#: Lines of one SKU are checked together (2 + 2 of a SKU with 3 left is refused whole).
SAME_WORK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end
local n = #KEYS - 2
local wanted = {}
for i = 1, n do
  wanted[KEYS[i + 2]] = (wanted[KEYS[i + 2]] or 0) + tonumber(ARGV[i + 1])
end
for key, units in pairs(wanted) do
  if tonumber(redis.call('HGET', key, 'available') or '0') < units then
    redis.call('SET', KEYS[1], '0')
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'order', ARGV[1], 'accepted', '0')
    return 0
  end
end
for key, units in pairs(wanted) do
  redis.call('HINCRBY', key, 'available', -units)
end
redis.call('SET', KEYS[1], '1')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'order', ARGV[1], 'accepted', '1')
return 1
"""
#: entries read per batch: what flashstock's ingest actors read (``ChannelIngest``)
BATCH = DEFAULT_BATCH_SIZE


class ConsumerResult(NamedTuple):
    channel: str
    decided: int
    accepted_by_sku: dict[str, int]
    cpu_seconds: float  # this consumer process's CPU


def stock_key(prefix: str, sku: str) -> str:
    return f"{prefix}:stock:{sku}"


def consume(
    redis_url: str,
    channel: str,
    fmt: str,
    keys: ChannelKeys,
    prefix: str,
    expected: int,
    ready: Any,
    results: Any,
) -> None:
    """One channel's consumer: decide ``expected`` inbox entries, then report."""
    client = connect(redis_url)
    sha = client.script_load(SAME_WORK_LUA)
    ledger = f"{prefix}:ledger"
    accepted: Counter[str] = Counter()
    decided = 0
    ready.put(channel)
    started_cpu = time.process_time()
    while decided < expected:
        reply: Any = client.xreadgroup(GROUP, f"{channel}-lua", {keys.inbox: ">"}, count=BATCH, block=50)
        if not reply:
            continue
        entries = reply[0][1]
        orders = [parse_message(channel, fmt, fields[b"m"]) for _, fields in entries]
        pipe = client.pipeline(transaction=False)
        placed = [o for o in orders if isinstance(o, PlatformOrder)]
        for order in placed:
            line_keys = [stock_key(prefix, line.sku) for line in order.lines]
            pipe.evalsha(
                sha,
                2 + len(line_keys),
                f"{prefix}:order:{channel}:{order.order_id}",
                ledger,
                *line_keys,
                order.order_id,
                *(line.quantity for line in order.lines),
            )
        answers = pipe.execute()
        lines = []
        for order, answer in zip(placed, answers, strict=True):
            lines.append(f"{order.order_id}\t{answer}")
            if answer == 1:
                for line in order.lines:
                    accepted[line.sku] += line.quantity
        pipe = client.pipeline(transaction=False)
        if lines:
            pipe.xadd(keys.decisions, {"decisions": "\n".join(lines)})
        pipe.xack(keys.inbox, GROUP, *[entry_id for entry_id, _ in entries])
        pipe.execute()
        decided += len(entries)
    results.put(ConsumerResult(channel, decided, dict(accepted), time.process_time() - started_cpu))
    client.close()


class ConsumerRun(NamedTuple):
    released_ms: int  # when the backlog was released (Redis clock)
    seconds: float  # from then to the last published decision (Redis clock)
    results: list[ConsumerResult]


def run_consumers(
    redis_url: str,
    channels: Mapping[str, str],
    keys: Mapping[str, ChannelKeys],
    prefix: str,
    expected: Mapping[str, int],
    release: Any,
) -> ConsumerRun:
    """Start one consumer process per channel, call ``release()`` (it answers the Redis
    clock in ms) once they are all waiting, and wait for every one to finish."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=consume,
            args=(redis_url, channel, fmt, keys[channel], prefix, expected[channel], ready, results),
            daemon=True,
        )
        for channel, fmt in channels.items()
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    released_ms = int(release())
    # a consumer that cannot finish (an entry lost) fails the run instead of waiting for ever
    done = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    client = connect(redis_url)
    try:
        last_ms = max(
            entry_time_ms(entry_id) for k in keys.values() if (entry_id := last_entry_id(client, k.decisions))
        )
    finally:
        client.close()
    return ConsumerRun(released_ms, max(0.001, (last_ms - released_ms) / 1000), done)


def published_latencies_ms(
    client: RedisClient, keys: Mapping[str, ChannelKeys], sent_ms: Mapping[tuple[str, str], int]
) -> list[int]:
    """Sorted Redis-clock ms from each order's inbox entry to its published decision."""
    latencies = []
    for channel, k in keys.items():
        entries: Any = client.xrange(k.decisions)
        for entry_id, fields in entries:
            at = entry_time_ms(text(entry_id))
            for line in text(fields[b"decisions"]).split("\n"):
                sent = sent_ms.get((channel, line.partition("\t")[0]))
                if sent is not None:
                    latencies.append(at - sent)
    return sorted(latencies)


def remaining_stock(client: RedisClient, prefix: str, skus: Sequence[str]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for sku in skus:
        pipe.hget(stock_key(prefix, sku), "available")
    return {sku: int(left) for sku, left in zip(skus, pipe.execute(), strict=True)}
