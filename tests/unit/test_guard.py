from __future__ import annotations

import socket
from ipaddress import ip_address, ip_network

import pytest

from postback.rules.addresses import METADATA, embedded_ipv4, host_address, inet_aton, is_blocked

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private 10/8"),
    ("172.16.0.1", "private 172.16/12"),
    ("172.31.255.255", "private 172.16/12"),
    ("192.168.1.1", "private 192.168/16"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local with a zone"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.255", "CGNAT"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.10", "documentation"),
    ("203.0.113.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("2001:db8::1", "documentation"),
    ("100::1", "discard-only"),
    ("fec0::1", "site-local (deprecated)"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("::ffff:127.0.0.1", "mapped loopback"),
    ("::ffff:10.1.2.3", "mapped private"),
    ("::ffff:169.254.169.254", "mapped metadata"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2001::1", "Teredo"),
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 (DNS64 networks) of a public address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "why"), BLOCKED)
def test_special_addresses_are_blocked(address: str, why: str) -> None:
    assert is_blocked(ip_address(address), ()), why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert not is_blocked(ip_address(address), ())


def test_an_allowed_network_lets_its_addresses_through() -> None:
    allowed = (ip_network("127.0.0.0/8"), ip_network("10.1.0.0/16"))
    assert not is_blocked(ip_address("127.0.0.1"), allowed)
    assert not is_blocked(ip_address("10.1.2.3"), allowed)
    assert is_blocked(ip_address("10.2.0.1"), allowed)
    assert is_blocked(ip_address("::1"), allowed)


def test_mapped_ipv6_is_judged_as_its_ipv4_even_when_allowed() -> None:
    allowed = (ip_network("127.0.0.0/8"),)
    assert not is_blocked(ip_address("::ffff:127.0.0.1"), allowed)
    assert is_blocked(ip_address("::ffff:192.168.0.1"), allowed)


def test_ipv6_allowed_network() -> None:
    allowed = (ip_network("::1/128"), ip_network("fd00:1::/32"))
    assert not is_blocked(ip_address("::1"), allowed)
    assert not is_blocked(ip_address("fd00:1::5"), allowed)
    assert is_blocked(ip_address("fd00:2::5"), allowed)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254"]
)
def test_metadata_needs_its_own_entry_not_a_broad_network(address: str) -> None:
    broad = (
        ip_network("0.0.0.0/0"),
        ip_network("::/0"),
        ip_network("169.254.0.0/16"),
        ip_network("100.64.0.0/10"),
        ip_network("fc00::/7"),
    )
    assert is_blocked(ip_address(address), broad)
    exact = (ip_network(str(embedded_ipv4(ip_address(address)) or address)),)
    assert not is_blocked(ip_address(address), exact)


def test_everything_else_opens_with_a_catch_all() -> None:
    everything = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    assert not is_blocked(ip_address("10.0.0.1"), everything)
    assert not is_blocked(ip_address("fe80::1"), everything)


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("64:ff9b::102:304", "1.2.3.4"),
        ("2002:102:304::", "1.2.3.4"),
        ("2606:4700::1", None),
        ("1.2.3.4", None),
    ],
)
def test_embedded_ipv4(address: str, inner: str | None) -> None:
    expected = None if inner is None else ip_address(inner)
    assert embedded_ipv4(ip_address(address)) == expected


# Every spelling of 127.0.0.1 that inet_aton(3), and so getaddrinfo, accepts.
LOOPBACK_SPELLINGS = [
    "2130706433",
    "127.1",
    "127.0.1",
    "0177.0.0.1",
    "0177.1",
    "017700000001",
    "0x7f.1",
    "0x7f.0.0.1",
    "0x7F000001",
    "0x7f.0x0.0x0.0x1",
    "127.000.000.001",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_ipv4_spelling_the_c_library_reads_is_judged(host: str) -> None:
    assert ip_address(socket.inet_aton(host)) == ip_address("127.0.0.1")  # what the system does
    assert host_address(host) == ip_address("127.0.0.1")
    assert is_blocked(host_address(host) or ip_address("8.8.8.8"), ())


@pytest.mark.parametrize(
    "host",
    [
        "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width digits
        "%31%32%37.0.0.1",
        "127.0.0.1.",
        "[::1]",
        "[::ffff:127.0.0.1]",
    ],
)
def test_encoded_hosts_are_read_as_what_they_decode_to(host: str) -> None:
    found = host_address(host)
    assert found is not None and is_blocked(found, ())


@pytest.mark.parametrize(
    "host", ["example.com", "1.2.3.4.5", "256.1", "08.1", "0x1g", "", "1..2", "::zz"]
)
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert host_address(host) is None


@pytest.mark.parametrize("host", ["08.1", "1.2.3.4.5", "256.256.256.256", "0x1g"])
def test_what_inet_aton_refuses_is_not_an_address_here_either(host: str) -> None:
    with pytest.raises(OSError):
        socket.inet_aton(host)
    assert inet_aton(host) is None


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("fe80::1%lo", "fe80::/10"),
        ("[fe80::1%25eth0]", "fe80::/10"),
        ("fd00:ec2::254%1", "fd00:ec2::/32"),
    ],
)
def test_scoped_ipv6_is_judged_without_its_zone(host: str, allowed: str) -> None:
    address = host_address(host)
    assert address is not None and is_blocked(address, ())
    assert is_blocked(ip_address(host.strip("[]").replace("%25", "%")), ())
    if address in METADATA:
        # the zone must not hide the metadata address from the "exact entry only" rule
        assert is_blocked(ip_address(host), (ip_network(allowed), ip_network("::/0")))
    else:
        assert not is_blocked(
            ip_address(host.strip("[]").replace("%25", "%")), (ip_network(allowed),)
        )


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "fd00:ec2::254%1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "100.100.100.200",
        "169.254.170.2",
    ],
)
def test_metadata_stays_refused_when_everything_is_allowed(address: str) -> None:
    everything = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    assert is_blocked(ip_address(address), everything)
