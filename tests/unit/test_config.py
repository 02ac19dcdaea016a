from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from postback.config import load
from postback.delivery.transport import AioHttpTransport, LeanTransport, transport_for
from postback.errors import ConfigError


def test_defaults_use_sqlite_in_data_dir() -> None:
    settings = load({})
    assert settings.database_url == "sqlite:///data/postback.db"
    assert settings.connect_timeout == 5.0
    assert settings.total_timeout == 15.0


def test_allowed_networks_are_parsed() -> None:
    settings = load({"POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128"})
    assert settings.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"POSTBACK_ALLOWED_NETWORKS": "localhost"}, "is not a network"),
        ({"POSTBACK_CONNECT_TIMEOUT": "soon"}, "is not a number"),
        ({"POSTBACK_TOTAL_TIMEOUT": "-1"}, "greater than 0"),
        ({"POSTBACK_DATABASE_URL": "mysql://x"}, "sqlite:///"),
    ],
)
def test_bad_settings_say_what_to_write(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load(env)


def test_operating_settings() -> None:
    defaults = load({})
    assert (defaults.log_format, defaults.outbound_proxy) == ("text", None)
    assert defaults.secret_overlap_seconds == 24 * 3600
    assert defaults.worker_synchronous_commit is True
    settings = load(
        {
            "POSTBACK_LOG_FORMAT": "JSON",
            "POSTBACK_OUTBOUND_PROXY": "http://proxy.internal:3128",
            "POSTBACK_SECRET_OVERLAP_SECONDS": "600",
            "POSTBACK_WORKER_SYNCHRONOUS_COMMIT": "Off",
        }
    )
    assert settings.worker_synchronous_commit is False
    assert settings.log_format == "json"
    assert settings.outbound_proxy == "http://proxy.internal:3128"
    assert settings.secret_overlap_seconds == 600


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"POSTBACK_LOG_FORMAT": "xml"}, "write text or json"),
        ({"POSTBACK_OUTBOUND_PROXY": "socks5://u:hunter2@p:1080"}, "not an HTTP proxy"),
        ({"POSTBACK_OUTBOUND_PROXY": "http://nohost"}, "not an HTTP proxy"),
        ({"POSTBACK_SENDER": "curl"}, "write lean (the default) or aiohttp"),
        ({"POSTBACK_WORKER_SYNCHRONOUS_COMMIT": "later"}, "write on or off"),
    ],
)
def test_bad_operating_settings_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env)
    assert needle in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_sender_is_chosen_by_setting() -> None:
    assert load({}).sender == "lean"
    assert isinstance(transport_for(load({})), LeanTransport)
    chosen = load({"POSTBACK_SENDER": " AioHTTP "})
    assert chosen.sender == "aiohttp"
    assert isinstance(transport_for(chosen), AioHttpTransport)


def test_ca_file_is_checked_at_start(tmp_path: Path) -> None:
    assert load({}).ca_file is None  # the system's trust store
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = {
        str(tmp_path / "missing.pem"): "cannot be read: no such file or directory",
        str(tmp_path): "cannot be read: is a directory",
        str(junk): "holds no PEM certificate",
    }
    for raw, needle in cases.items():
        with pytest.raises(ConfigError) as caught:
            load({"POSTBACK_CA_FILE": raw})
        assert f"POSTBACK_CA_FILE={raw!r}" in str(caught.value) and needle in str(caught.value)


def test_breaker_settings() -> None:
    defaults = load({})
    assert defaults.slow_after == 0.25
    assert load({"POSTBACK_SLOW_AFTER": "2"}).slow_after == 2.0
    assert (defaults.breaker_failures, defaults.breaker_cooldown) == (5, 10.0)
    assert defaults.breaker_max_cooldown == 600.0
    off = load({"POSTBACK_BREAKER_FAILURES": "0", "POSTBACK_BREAKER_COOLDOWN": "900"})
    assert (off.breaker_failures, off.breaker_cooldown, off.breaker_max_cooldown) == (0, 900, 900)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"POSTBACK_BREAKER_FAILURES": "2.5"}, "POSTBACK_BREAKER_FAILURES.*whole number"),
        ({"POSTBACK_BREAKER_FAILURES": "-1"}, "whole number"),
        ({"POSTBACK_BREAKER_COOLDOWN": "0"}, "POSTBACK_BREAKER_COOLDOWN must be greater"),
        (
            {"POSTBACK_BREAKER_COOLDOWN": "60", "POSTBACK_BREAKER_MAX_COOLDOWN": "30"},
            "MAX_COOLDOWN.*at least",
        ),
    ],
)
def test_bad_breaker_settings_say_what_to_write(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load(env)
