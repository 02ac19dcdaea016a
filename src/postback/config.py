"""Settings from the environment, checked once at start with clear errors."""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from postback.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///data/postback.db"
    admin_key: str | None = None
    allowed_networks: tuple[Network, ...] = ()
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    max_reply_bytes: int = 64 * 1024
    max_body_bytes: int = 5 * 1024 * 1024
    max_request_bytes: int = 256 * 1024  # a rendered request: URL, headers and body
    max_items: int = 1000  # items of one event
    per_host_concurrency: int = 50
    # A destination with per_host_concurrency sends under way, taking longer than this
    # (or with none ending for this long), is slow: as many again may wait, the rest are
    # shed.
    slow_after: float = 0.25
    lease_seconds: float | None = None  # default: long enough for the slowest send
    inbox: bool = False  # serve the built-in inbox (in memory; for trying things out)
    # How long a rotated-out signing secret keeps signing beside the new one.
    secret_overlap_seconds: float = 24 * 3600.0
    log_format: str = "text"  # or "json": one object per line
    outbound_proxy: str | None = None  # http://host:port: every postback goes through it
    ca_file: Path | None = None  # PEM bundle trusted for https receivers; None: the system's
    sender: str = "lean"  # the HTTP client that sends postbacks: "lean" or "aiohttp"
    retention_days: float = 30.0  # attempts older than this are deleted; 0 keeps them all
    retention_interval: float = 600.0  # seconds between the workers' retention runs
    # PostgreSQL: False lets workers' completions return before their WAL is on disk.
    worker_synchronous_commit: bool = True
    # A destination's circuit breaker: opens after this many connection failures or
    # timeouts in a row (0: never), stays open this long, doubling up to the maximum.
    breaker_failures: int = 5
    breaker_cooldown: float = 10.0
    breaker_max_cooldown: float = 600.0


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; write e.g. {name}={default}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _networks(raw: str) -> tuple[Network, ...]:
    nets: list[Network] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"POSTBACK_ALLOWED_NETWORKS: {part!r} is not a network; "
                "write CIDRs separated by commas, e.g. 127.0.0.0/8,10.1.0.0/16"
            ) from None
    return tuple(nets)


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read ``POSTBACK_*`` settings; raise :class:`ConfigError` naming any bad one."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("POSTBACK_DATA_DIR", "data"))
    url = env.get("POSTBACK_DATABASE_URL") or f"sqlite:///{data_dir / 'postback.db'}"
    if not url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise ConfigError(
            f"POSTBACK_DATABASE_URL={url!r}: use sqlite:///path/to/file.db "
            "or postgresql://user@host/db"
        )
    cooldown, longest = _cooldowns(env)
    return Settings(
        database_url=url,
        admin_key=env.get("POSTBACK_ADMIN_KEY") or None,
        allowed_networks=_networks(env.get("POSTBACK_ALLOWED_NETWORKS", "")),
        connect_timeout=_float(env, "POSTBACK_CONNECT_TIMEOUT", 5.0),
        total_timeout=_float(env, "POSTBACK_TOTAL_TIMEOUT", 15.0),
        max_reply_bytes=int(_float(env, "POSTBACK_MAX_REPLY_BYTES", 64 * 1024)),
        max_body_bytes=int(_float(env, "POSTBACK_MAX_BODY_BYTES", 5 * 1024 * 1024)),
        max_request_bytes=int(_float(env, "POSTBACK_MAX_REQUEST_BYTES", 256 * 1024)),
        max_items=int(_float(env, "POSTBACK_MAX_ITEMS", 1000)),
        per_host_concurrency=int(_float(env, "POSTBACK_PER_HOST_CONCURRENCY", 50)),
        slow_after=_float(env, "POSTBACK_SLOW_AFTER", 0.25),
        lease_seconds=_float(env, "POSTBACK_LEASE_SECONDS", 0) or None,
        inbox=env.get("POSTBACK_INBOX", "") in ("1", "true", "yes"),
        secret_overlap_seconds=_float(env, "POSTBACK_SECRET_OVERLAP_SECONDS", 24 * 3600.0),
        log_format=_log_format(env.get("POSTBACK_LOG_FORMAT", "")),
        outbound_proxy=_proxy(env.get("POSTBACK_OUTBOUND_PROXY", "")),
        ca_file=_ca_file(env.get("POSTBACK_CA_FILE", "")),
        sender=_sender(env.get("POSTBACK_SENDER", "")),
        retention_days=_days(env.get("POSTBACK_RETENTION_DAYS", "")),
        retention_interval=_float(env, "POSTBACK_RETENTION_INTERVAL", 600.0),
        worker_synchronous_commit=_on_off(env, "POSTBACK_WORKER_SYNCHRONOUS_COMMIT", True),
        breaker_failures=_breaker_failures(env),
        breaker_cooldown=cooldown,
        breaker_max_cooldown=longest,
    )


def _on_off(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"{name}={raw!r}: write on or off")


def _breaker_failures(env: Mapping[str, str]) -> int:
    raw = env.get("POSTBACK_BREAKER_FAILURES", "").strip() or "5"
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigError(
            f"POSTBACK_BREAKER_FAILURES={raw!r}: write a whole number, e.g. 5 (0 turns "
            "the circuit breaker off)"
        )
    return int(raw)


def _cooldowns(env: Mapping[str, str]) -> tuple[float, float]:
    cooldown = _float(env, "POSTBACK_BREAKER_COOLDOWN", 10.0)
    longest = _float(env, "POSTBACK_BREAKER_MAX_COOLDOWN", max(600.0, cooldown))
    if longest < cooldown:
        raise ConfigError(
            f"POSTBACK_BREAKER_MAX_COOLDOWN ({longest:g}) must be at least "
            f"POSTBACK_BREAKER_COOLDOWN ({cooldown:g})"
        )
    return cooldown, longest


def _days(raw: str) -> float:
    if not raw.strip():
        return 30.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(
            f"POSTBACK_RETENTION_DAYS={raw!r}: write a number of days, e.g. 30 (0 keeps all)"
        )
    return value


def _log_format(raw: str) -> str:
    value = raw.strip().lower() or "text"
    if value not in ("text", "json"):
        raise ConfigError(f"POSTBACK_LOG_FORMAT={raw!r}: write text or json")
    return value


SENDERS = ("lean", "aiohttp")


def _sender(raw: str) -> str:
    value = raw.strip().lower() or SENDERS[0]
    if value not in SENDERS:
        raise ConfigError(f"POSTBACK_SENDER={raw!r}: write lean (the default) or aiohttp")
    return value


def _proxy(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    host_port = rest.split("/", 1)[0].rpartition("@")[2]
    if scheme.lower() != "http" or not sep or ":" not in host_port:
        # The value is not echoed: it may hold the proxy's password.
        raise ConfigError(
            "POSTBACK_OUTBOUND_PROXY is not an HTTP proxy address; "
            "write e.g. http://proxy.internal:3128"
        )
    return raw


def _ca_file(raw: str) -> Path | None:
    """The trust store for https receivers, loaded once here so a bad file stops the start."""
    if not raw.strip():
        return None
    path = Path(raw.strip())
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:  # an OSError too: caught first
        raise ConfigError(
            f"POSTBACK_CA_FILE={raw!r} holds no PEM certificate; "
            "write the path of a PEM bundle of certificate authorities"
        ) from None
    except OSError as exc:  # missing, unreadable, a directory
        why = (exc.strerror or str(exc)).lower()
        raise ConfigError(f"POSTBACK_CA_FILE={raw!r} cannot be read: {why}") from None
    return path
