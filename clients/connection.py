"""How a client channel connects: the target (validated, address lists resolved), retries,
health-aware round_robin, keepalive and reconnect backoff, as grpc channel options.

Retries are grpc's own (a service config retryPolicy): only the idempotent unary calls retry,
only on UNAVAILABLE (or CANCELLED by a replica that began draining), with bounded exponential
backoff. grpc never retries a stream: a half-sent stream cannot be replayed safely by the
channel. The video client resumes its streams itself, with the same RetryPolicy deciding when
(clients/video_resume.py: it knows which frames were answered).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "connection_options", "resolve_target"]

SERVICE = "switchyard.v1.Predict"
IDEMPOTENT = ("Predict", "GetModel", "ListModels", "GetServerInfo")
# A dropped connection is retried quickly: grpc's default backoff grows to 120 s, so a client
# that saw a 20 s outage kept failing long after the server was back.
RECONNECT_BACKOFF_MS = (100, 1000)
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:")


@dataclass(frozen=True)
class RetryPolicy:
    """grpc retries of the idempotent unary calls, and the video client's stream resumes.
    max_attempts counts the first try (2..5)."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    backoff_multiplier: float = 2.0
    # CANCELLED too: a call that reaches a replica just after its drain began (before the
    # client read the GOAWAY) is cancelled by grpc before any handler ran, so a retry is safe.
    codes: Sequence[str] = field(default=("UNAVAILABLE", "CANCELLED"))

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError("RetryPolicy.max_attempts must be between 2 and 5 (grpc caps it at 5)")
        if self.initial_backoff <= 0 or self.max_backoff < self.initial_backoff or self.backoff_multiplier < 1:
            raise ValueError("RetryPolicy: need 0 < initial_backoff <= max_backoff and backoff_multiplier >= 1")

    def config(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff:.3f}s",
            "maxBackoff": f"{self.max_backoff:.3f}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": list(self.codes),
        }


DEFAULT_RETRY = RetryPolicy()


def service_config(retry: RetryPolicy | None, round_robin: bool) -> str:
    config: dict[str, Any] = {}
    if retry is not None:
        names = [{"service": SERVICE, "method": method} for method in IDEMPOTENT]
        config["methodConfig"] = [{"name": names, "retryPolicy": retry.config()}]
    if round_robin:
        config["loadBalancingConfig"] = [{"round_robin": {}}]
        # Each replica's grpc.health.v1 "" is watched: one that drains (NOT_SERVING) gets no new calls.
        config["healthCheckConfig"] = {"serviceName": ""}
    return json.dumps(config)


def connection_options(
    max_message_bytes: int,
    *,
    round_robin: bool,
    retry: RetryPolicy | None,
    keepalive: float | None,
    extra: Iterable[tuple[str, Any]] = (),
) -> list[tuple[str, Any]]:
    """The channel options; `extra` (the caller's own) go last and win."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.service_config", service_config(retry, round_robin)),
        ("grpc.service_config_disable_resolution", 1),  # ours, not a DNS TXT record's
        ("grpc.enable_retries", 1 if retry is not None else 0),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
    ]
    if keepalive is not None:
        if keepalive <= 0:
            raise ValueError("keepalive must be a positive number of seconds (or None)")
        ms = int(keepalive * 1000)
        options += [
            ("grpc.keepalive_time_ms", ms),
            ("grpc.keepalive_timeout_ms", min(ms, 20_000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    extra = list(extra)
    overridden = {name for name, _ in extra}
    return [option for option in options if option[0] not in overridden] + extra


def resolve_target(target: str | Iterable[str]) -> tuple[str, bool]:
    """(grpc target, round_robin). One address or a scheme URI passes through (checked); several
    addresses (host names, IPv4, [IPv6]) are resolved now into one ipv4:/ipv6: list.

    Raises ValueError naming the entry that is not a usable address.
    """
    if isinstance(target, str):
        entries = [t.strip() for t in target.split(",")] if "," in target else [target.strip()]
    else:
        entries = [str(t).strip() for t in target]
    if not entries or any(not entry for entry in entries):
        raise ValueError(f"target {target!r}: empty address")
    if len(entries) == 1:
        entry = entries[0]
        if entry.startswith(_SCHEMES):
            return entry, entry.startswith(("dns:", "ipv4:", "ipv6:"))
        _split(entry)
        return entry, False
    addresses: list[str] = []
    for entry in entries:
        for address in _resolve(entry):
            if address not in addresses:
                addresses.append(address)
    return _address_list(addresses), True


def _split(entry: str) -> tuple[str, int]:
    host, sep, port = entry.rpartition(":")
    if entry.startswith("[") and "]" in entry:
        host = entry[1 : entry.index("]")]
        sep, port = ":", entry[entry.index("]") + 2 :] if entry[entry.index("]") + 1 :].startswith(":") else ""
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"target {entry!r}: expected HOST:PORT, [IPV6]:PORT or a scheme URI (dns:///host:port)")
    return host, int(port)


def _resolve(entry: str) -> list[str]:
    """host:port -> every "ip:port" it names (grpc's round_robin uses whichever answer)."""
    if entry.startswith(_SCHEMES):
        raise ValueError(f"target {entry!r}: a list holds plain addresses, not scheme URIs")
    host, port = _split(entry)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"target {entry!r}: cannot resolve {host!r} ({exc.strerror})") from None
    return [f"{info[4][0]}:{port}" for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _address_list(addresses: list[str]) -> str:
    """grpc's ipv4:/ipv6: schemes take one family per URI; mixed lists go as IPv6 with IPv4
    addresses mapped (::ffff:a.b.c.d), which dual-stack sockets dial as IPv4."""
    parsed = [(ipaddress.ip_address(a.rsplit(":", 1)[0]), a.rsplit(":", 1)[1]) for a in addresses]
    if all(ip.version == 4 for ip, _ in parsed):
        return "ipv4:" + ",".join(f"{ip}:{port}" for ip, port in parsed)
    mapped = [ip if ip.version == 6 else ipaddress.IPv6Address(f"::ffff:{ip}") for ip, _ in parsed]
    return "ipv6:" + ",".join(f"[{ip}]:{port}" for ip, (_, port) in zip(mapped, parsed, strict=True))
