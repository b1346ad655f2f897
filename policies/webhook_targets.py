"""Which addresses an outgoing webhook may reach (server-side request forgery guard).

A subscription URL names a host; the sender must not be turned into a probe of the
service's own network. A target address is refused when it is not a public unicast
address: loopback (127.0.0.0/8, ::1), private (RFC 1918, fc00::/7, 100.64.0.0/10),
link-local (169.254.0.0/16 with the cloud metadata service, fe80::/10), unspecified
(0.0.0.0, ::), multicast, or reserved / otherwise not globally routable. An IPv6 address
that embeds an IPv4 one (``::ffff:127.0.0.1``) is judged by the IPv4 address.

The operator may allow such targets explicitly (``Allowance``): everything, some
networks (``10.1.0.0/16``, ``127.0.0.1``), or some host names (``hooks.internal``,
whatever they resolve to). Pure: resolving names is the caller's job.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: legacy IPv4 spellings ``inet_aton`` accepts: ``2130706433``, ``0x7f.1``, ``127.1``
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
_ALLOW_ALL = frozenset({"1", "true", "yes", "all", "*"})
_ALLOW_NONE = frozenset({"", "0", "false", "no", "none"})


class Allowance(NamedTuple):
    """The non-public targets an operator allows; the default allows none."""

    everything: bool = False
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    def permits(self, host: str, address: IPAddress) -> bool:
        if self.everything or normal_host(host) in self.hosts:
            return True
        return any(address.version == n.version and address in n for n in self.networks)


def parse_allowance(value: str) -> Allowance:
    """``1`` (or true/yes/all/*) allows every target; empty (or 0/false/no/none) none;
    otherwise a comma-separated list of networks, addresses and host names."""
    text = value.strip().lower()
    if text in _ALLOW_ALL:
        return Allowance(everything=True)
    if text in _ALLOW_NONE:
        return Allowance()
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            if not re.fullmatch(r"[a-z0-9_.-]+", item):
                raise ValueError(f"not a network, address or host name: {item!r}") from None
            hosts.add(normal_host(item))
    return Allowance(networks=tuple(networks), hosts=frozenset(hosts))


def normal_host(host: str) -> str:
    """A host name as compared: lower case, without the root's trailing dot."""
    return host.lower().rstrip(".")


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells without any DNS lookup (``::1``, ``127.0.0.1``, and
    the legacy IPv4 forms a resolver would accept, like ``2130706433``), or None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        return _inet_aton(host)
    return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """What C's ``inet_aton`` makes of ``text``: 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x), the last part filling the remaining bytes."""
    parts: list[int] = []
    for part in text.split("."):
        lowered = part.lower()
        if lowered.startswith("0x"):
            if lowered == "0x":
                return None
            parts.append(int(lowered[2:], 16))
        elif len(part) > 1 and part.startswith("0"):
            if any(c in "89" for c in part):
                return None
            parts.append(int(part, 8))
        else:
            parts.append(int(part))
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, byte in enumerate(head):
        value += byte << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast target ("loopback", "private", ...), or
    None when it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if address.is_private or address in _SHARED or site_local:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 behind a NAT64 gateway (RFC 6052)


def target_problem(host: str, addresses: Iterable[IPAddress], allow: Allowance) -> str | None:
    """Why a webhook to ``host`` at ``addresses`` (all of them: a name that also resolves
    to an internal address is refused) must not be sent, or None when it may."""
    for address in addresses:
        kind = address_kind(address)
        if kind is not None and not allow.permits(host, address):
            where = "is" if literal_address(host) == address else f"resolves to {address}, which is"
            allowing = "allow it with FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE"
            return f"url host {host} {where} a {kind} address ({allowing})"
    return None
