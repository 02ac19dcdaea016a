from __future__ import annotations

import ipaddress

import pytest

from postback.config import load
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
