"""The address guard: which IP addresses a postback may never reach.

Postback URLs are untrusted input, so every address a request would connect to is
checked here first (the transport calls :func:`is_blocked` for IP literals and for every
address a name resolves to). Refused, unless inside a network the operator allows:

* loopback, private (RFC 1918, unique local ``fc00::/7``), link-local, multicast,
  unspecified, reserved, shared address space (CGNAT ``100.64.0.0/10``), benchmarking
  and documentation ranges;
* every IPv6 address outside global unicast ``2000::/3``, and the special ranges inside
  it (``2001::/23``, ``2001:db8::/32``, ``3fff::/20``);
* cloud metadata endpoints (:data:`METADATA`): these stay refused even inside a broad
  allowed network such as ``169.254.0.0/16`` or ``0.0.0.0/0``; only an allowed network
  that is exactly the one address (``169.254.169.254/32``) lets them through.

IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) are judged as that IPv4 address, and a
scoped IPv6 address (``fe80::1%eth0``) as the address without its zone.

:func:`host_address` reads a URL's host the way the C library would: every IPv4 spelling
``inet_aton`` accepts (``2130706433``, ``127.1``, ``0177.0.0.1``, ``0x7f.1``), after
undoing percent-encoding and folding full-width digits, so the guard does not depend on
which spellings the HTTP client happens to pass to the system.

The lists are written out instead of relying on ``ipaddress``'s ``is_private`` and
friends, whose answers differ between Python releases.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

BLOCKED_V4: tuple[ipaddress.IPv4Network, ...] = (
    _V4("0.0.0.0/8"),  # "this network", unspecified
    _V4("10.0.0.0/8"),  # private (RFC 1918)
    _V4("100.64.0.0/10"),  # shared address space, CGNAT (RFC 6598)
    _V4("127.0.0.0/8"),  # loopback
    _V4("169.254.0.0/16"),  # link-local, cloud metadata
    _V4("172.16.0.0/12"),  # private (RFC 1918)
    _V4("192.0.0.0/24"),  # IETF protocol assignments
    _V4("192.0.2.0/24"),  # documentation (TEST-NET-1)
    _V4("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    _V4("192.168.0.0/16"),  # private (RFC 1918)
    _V4("198.18.0.0/15"),  # benchmarking
    _V4("198.51.100.0/24"),  # documentation (TEST-NET-2)
    _V4("203.0.113.0/24"),  # documentation (TEST-NET-3)
    _V4("224.0.0.0/4"),  # multicast
    _V4("240.0.0.0/4"),  # reserved, and the broadcast address
)

GLOBAL_UNICAST_V6 = _V6("2000::/3")

BLOCKED_V6: tuple[ipaddress.IPv6Network, ...] = (
    _V6("2001::/23"),  # IETF protocol assignments (Teredo, ORCHID, ...)
    _V6("2001:db8::/32"),  # documentation
    _V6("3fff::/20"),  # documentation (RFC 9637)
)

METADATA: frozenset[Address] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS over IPv6
    }
)

_NAT64 = _V6("64:ff9b::/96")


_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def is_blocked(ip: Address, allowed: Iterable[Network] = ()) -> bool:
    """Whether a request to ``ip`` must be refused, given the operator's allowed networks."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        ip = ipaddress.IPv6Address(int(ip))  # the zone picks an interface, not an address
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_blocked(inner, allowed)
    if ip in METADATA:
        return not any(_is_exactly(net, ip) for net in allowed)
    if any(ip in net for net in allowed):
        return False
    return is_special(ip)


def is_special(ip: Address) -> bool:
    """Whether ``ip`` is outside the public internet (ignoring any allowed networks)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return any(ip in net for net in BLOCKED_V4)
    if ip.scope_id is not None or ip not in GLOBAL_UNICAST_V6:
        return True
    return any(ip in net for net in BLOCKED_V6)


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _is_exactly(net: Network, ip: Address) -> bool:
    return net.num_addresses == 1 and ip in net


def host_address(host: str) -> Address | None:
    """The IP address a URL host names, read as leniently as the C library; else None.

    Brackets, an IPv6 zone, percent-encoding and a trailing dot are undone, non-ASCII
    digits folded (NFKC); IPv4 may be written in any ``inet_aton`` form."""
    text = unquote(host.strip().removeprefix("[").removesuffix("]"))
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.partition("%")[0].removesuffix(".")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return inet_aton(text)


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any form ``inet_aton(3)`` accepts: one to four parts, each
    decimal, octal (leading ``0``) or hexadecimal (``0x``), the last filling the rest."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    values = [_inet_aton_number(p) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (24 - 8 * i)
    return ipaddress.IPv4Address(number)


def _inet_aton_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if part.startswith("0"):
        return int(part, 8)
    return int(part)
