"""The one way to open a Redis client from a URL: a single server or a Redis Cluster.

``REDIS_URL`` (and every ``redis_url`` setting) takes either

- a single server, as redis-py reads it: ``redis://[user:password@]host:port[/db]``,
  ``rediss://...`` (TLS) or ``unix:///path/to/redis.sock``; or
- a Redis Cluster: ``redis+cluster://[user:password@]host:port[,host:port...]`` (or
  ``rediss+cluster://`` for TLS). The hosts are seed nodes: the client asks any of them
  for the slot map, so one reachable node is enough; name several so a start does not
  depend on one. A cluster has no database number (no ``/db``), and no query string is
  taken (options are the code's, not the URL's).

A cluster client follows ``MOVED``/``ASK`` redirections and retries after connection
errors (a failover takes a primary away until its replica is promoted): up to
``CLUSTER_RETRIES`` attempts with exponential backoff, sized to outlast a promotion
(about twice ``cluster-node-timeout``); the clients are redis-py's, with stream reads
routed without asking a node (``actors.infra.cluster_clients``). What cluster mode asks
of the keys (one hash slot per script and transaction) is in ``actors.infra.keys``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from actors.infra.cluster_clients import AsyncClusterClient, ClusterClient

#: a client flashstock's stores and readers accept: a single server's or a cluster's
RedisClient: TypeAlias = redis.Redis | RedisCluster
AsyncRedisClient: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
#: attempts of one command on a cluster, through redirections and a failover
CLUSTER_RETRIES = 12
#: backoff between them: 50 ms doubling up to 2 s (about 12 s in all)
CLUSTER_BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)


class RedisUrlError(ValueError):
    """A Redis URL flashstock cannot use; the message names the problem."""


class ClusterUrl(NamedTuple):
    """What a ``redis+cluster://`` URL says."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    """The seed nodes and credentials of a cluster URL; ``RedisUrlError`` naming what is
    wrong (no host, a port that is not a number, a database, a query string)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise RedisUrlError(f"not a Redis Cluster URL (redis+cluster://host:port[,host:port]): {url!r}")
    credentials, at, hosts = rest.rpartition("@")
    if not at:
        credentials, hosts = "", rest
    if "?" in hosts or "#" in hosts:
        raise RedisUrlError(
            f"a Redis Cluster URL takes no query string or fragment: {without_password(url)!r}"
        )
    hosts, slash, path = hosts.partition("/")
    if slash and path not in ("", "0"):
        raise RedisUrlError(
            f"a Redis Cluster has no database number (found /{path}): {without_password(url)!r}"
        )
    nodes: list[tuple[str, int]] = []
    for part in hosts.split(","):
        host, port = _host_port(part, url)
        nodes.append((host, port))
    username = password = None
    if credentials:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    return ClusterUrl(tuple(nodes), username, password, CLUSTER_SCHEMES[scheme.lower()])


def _host_port(part: str, url: str) -> tuple[str, int]:
    if not part:
        raise RedisUrlError(f"a Redis Cluster URL needs host:port for every node: {without_password(url)!r}")
    split = urlsplit(f"//{part}")
    try:
        port = split.port
    except ValueError:
        raise RedisUrlError(f"port of {part!r} is not a port number: {without_password(url)!r}") from None
    if not split.hostname or port is None:
        raise RedisUrlError(f"node {part!r} is not host:port: {without_password(url)!r}")
    return split.hostname, port


def connect(url: str, **kwargs: Any) -> RedisClient:
    """A client for ``url`` (module docstring): ``redis.Redis`` for a server,
    ``RedisCluster`` for a cluster. ``kwargs`` are connection options (socket timeouts,
    ``decode_responses``, ...) for either. ``RedisUrlError`` on a URL that is neither."""
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        return ClusterClient(
            startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            username=parsed.username,
            password=parsed.password,
            ssl=parsed.tls,
            retry=Retry(CLUSTER_BACKOFF, CLUSTER_RETRIES),
            **kwargs,
        )
    _check_single_url(url)
    return redis.Redis.from_url(url, **kwargs)


def connect_async(url: str, **kwargs: Any) -> AsyncRedisClient:
    """``connect`` for asyncio code (the SSE stream of the Serve app)."""
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        return AsyncClusterClient(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in parsed.nodes],
            username=parsed.username,
            password=parsed.password,
            ssl=parsed.tls,
            retry=AsyncRetry(CLUSTER_BACKOFF, CLUSTER_RETRIES),
            **kwargs,
        )
    _check_single_url(url)
    return redis.asyncio.Redis.from_url(url, **kwargs)


def _check_single_url(url: str) -> None:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise RedisUrlError(
            "a Redis URL starts with redis://, rediss://, unix:// or, for a cluster, "
            f"redis+cluster://: {without_password(url)!r}"
        )
    try:
        redis.connection.parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    except ValueError as error:
        raise RedisUrlError(f"{error}: {without_password(url)!r}") from None


def without_password(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def primaries(client: RedisClient) -> list[redis.Redis]:
    """A client per primary: the server itself, or every primary of a cluster (what must
    each be checked, e.g. for its persistence settings)."""
    if isinstance(client, RedisCluster):
        nodes = client.get_primaries()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        return [client.get_redis_connection(node) for node in nodes]
    return [client]
