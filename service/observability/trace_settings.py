"""OIP TraceSetting: the server's trace settings, and trace_rate changed at run time.

Settings (each a list of one string, as the protocol carries them):
    trace_rate     share of traces exported, 0..1 (Triton's trace_rate is "1 in N"; ours is the
                   ratio --trace-rate sets); the one setting that may change
    trace_slow_ms  requests slower than this are exported whatever the rate (read-only)
    otel_endpoint  where spans go, empty when tracing is off (read-only)
    trace_mode     "opentelemetry" (read-only)

An update needs tracing on, an empty model_name (settings are server-wide) and, like the
repository RPCs, --allow-repository-admin (with --auth-config the caller also needs the admin
group, which the auth layer checks for every TraceSetting call). An empty value list resets
trace_rate to its start-up value.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit, urlunsplit

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from service.observability.tracing import Tracing

SETTABLE = "trace_rate"
READ_ONLY = ("trace_slow_ms", "otel_endpoint", "trace_mode")


def trace_setting(tracing: Tracing, request: pb.TraceSettingRequest, may_update: bool) -> pb.TraceSettingResponse:
    """Apply the request's updates (if any), then answer with the settings now in force."""
    if request.model_name:
        raise InvalidInputError(
            f"trace settings are server-wide; model '{request.model_name[:100]}' has none of its own "
            "(leave model_name empty)"
        )
    if request.settings:
        _update(tracing, request, may_update)
    return current_settings(tracing)


def current_settings(tracing: Tracing) -> pb.TraceSettingResponse:
    response = pb.TraceSettingResponse()
    values = {
        "trace_rate": f"{tracing.rate:g}",
        "trace_slow_ms": f"{tracing.slow_ms:g}",
        "otel_endpoint": _without_credentials(tracing.endpoint),
        "trace_mode": "opentelemetry",
    }
    for key, value in values.items():
        response.settings[key].value.append(value)
    return response


def _update(tracing: Tracing, request: pb.TraceSettingRequest, may_update: bool) -> None:
    for key in request.settings:
        if key in READ_ONLY:
            raise InvalidInputError(f"trace setting '{key}' is read-only; only '{SETTABLE}' may change at run time")
        if key != SETTABLE:
            raise InvalidInputError(f"unknown trace setting '{key[:100]}'; settings: {[SETTABLE, *READ_ONLY]}")
    if not may_update:
        raise SwitchyardError(
            "changing trace settings is an admin operation and is disabled; start the server with "
            "--allow-repository-admin (SWITCHYARD_ALLOW_REPOSITORY_ADMIN=true) to enable it",
            ErrorCode.PERMISSION_DENIED,
        )
    if not tracing.on:
        raise SwitchyardError(
            "tracing is off: start the server with --otel-endpoint to trace", ErrorCode.FAILED_PRECONDITION
        )
    values = request.settings[SETTABLE].value
    tracing.set_rate(tracing.start_rate if not values else _rate(values))


def _rate(values) -> float:
    if len(values) != 1:
        raise InvalidInputError(f"trace setting '{SETTABLE}' takes one value, got {len(values)}")
    text = values[0]
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise InvalidInputError(f"trace setting '{SETTABLE}' is a share of traces from 0 to 1, got '{text[:40]}'")
    return rate


def _without_credentials(endpoint: str) -> str:
    """The endpoint as configured, minus any user:password a URL may carry."""
    if "@" not in endpoint or "://" not in endpoint:
        return endpoint
    parts = urlsplit(endpoint)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
