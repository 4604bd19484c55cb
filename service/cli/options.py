"""Options every client command spells the same way: --target/-t HOST:PORT and --json."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.errors import invocation

DEFAULT_TARGET = "127.0.0.1:8001"
TARGET_ENV = "SWITCHYARD_TARGET"


def _check_target(value: str) -> str:
    """HOST:PORT (or a gRPC URI such as dns:///name:8001); remembered for error messages."""
    if "://" not in value and not value.startswith(("unix:", "dns:", "ipv4:", "ipv6:")):
        host, sep, port = value.rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise typer.BadParameter(f"expected HOST:PORT, got {value!r}")  # click names the flag and variable
    invocation.target = value
    return value


Target = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        envvar=TARGET_ENV,
        show_envvar=True,
        callback=_check_target,
        help="server address HOST:PORT",
    ),
]

Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout instead of the table")]


def key_values(values: list[str] | None, flag: str, form: str = "KEY=VALUE") -> dict[str, str]:
    """Repeated KEY=VALUE flags as a dict; a value without '=' is a usage error naming the flag."""
    out = {}
    for value in values or ():
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected {form}, got {value!r}", param_hint=flag)
        out[key] = rest
    return out


def int_list(value: str, flag: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]; anything else is a usage error naming the flag."""
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=flag) from None
    if not numbers or min(numbers) < 1:
        raise typer.BadParameter(f"expected comma-separated positive integers, got {value!r}", param_hint=flag)
    return numbers
