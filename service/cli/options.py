"""Options every client command spells the same way: the connection (--target/-t HOST:PORT,
TLS, a bearer token) and --json.

A client command declares one `connection: Connection` parameter and is decorated with
`@with_connection`: the decorator shows the connection options in its place and hands the
command one Connection, which opens any client with the same TLS and token.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from service.cli.errors import invocation

if TYPE_CHECKING:
    from clients.security import TlsConfig

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

TOKEN_ENV = "SWITCHYARD_TOKEN"
PANEL = "Connection"
Client = TypeVar("Client")
Result = TypeVar("Result")


def _pem_file(flag: str, help: str) -> Any:
    return Annotated[
        Path | None,
        typer.Option(
            flag, metavar="FILE", exists=True, dir_okay=False, readable=True, help=help, rich_help_panel=PANEL
        ),
    ]


@dataclass(frozen=True)
class Connection:
    """Where a client command connects and how: the target, TLS (or None) and a token."""

    target: str
    tls: TlsConfig | None = None
    token: str | None = field(default=None, repr=False)  # never in a repr, a log line or an error

    def client(self, kind: Callable[..., Client], **settings: Any) -> Client:
        """`connection.client(SwitchyardClient)`: a client of that kind with this target, TLS and token
        (and any other client `settings`, e.g. channels=4)."""
        return kind(self.target, tls=self.tls, token=self.token, **settings)


def _quiet_grpc_core() -> None:
    """gRPC's C core writes lines of its own to stderr (a failed TLS handshake, at INFO), and reads
    GRPC_VERBOSITY when grpc loads: client commands load it after this runs, and say what failed
    in one line of their own, so the core stays quiet unless the user set the variable or --debug."""
    if "grpc" not in sys.modules and not invocation.debug:
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def _connection(
    target: str,
    tls: bool,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_server_name: str | None,
    token: str | None,
) -> Connection:
    if (tls_cert is None) != (tls_key is None):
        given, missing = ("--tls-cert", "--tls-key") if tls_cert else ("--tls-key", "--tls-cert")
        raise typer.BadParameter(f"give {missing} as well: a client certificate goes with its key", param_hint=given)
    if token:
        # Whatever goes wrong later, the error line and --debug's traceback leave the token out.
        invocation.secrets = (*invocation.secrets, token)
        if not all("!" <= ch <= "~" for ch in token):
            raise typer.BadParameter(
                "not a bearer token: expected printable ASCII without spaces (the value is not shown)",
                param_hint=f"--token / {TOKEN_ENV}",
            )
    _quiet_grpc_core()
    config = None
    if tls or tls_ca or tls_cert or tls_server_name:
        from clients.security import TlsConfig

        config = TlsConfig(ca=tls_ca, cert=tls_cert, key=tls_key, server_name=tls_server_name or None)
    return Connection(target, config, token or None)


def _keyword(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


CONNECTION_OPTIONS = [
    _keyword("target", DEFAULT_TARGET, Target),
    _keyword(
        "tls",
        False,
        Annotated[
            bool,
            typer.Option(
                "--tls",
                help="TLS, trusting the system's CA certificates (any --tls-* option turns TLS on too)",
                rich_help_panel=PANEL,
            ),
        ],
    ),
    _keyword(
        "tls_ca",
        None,
        _pem_file("--tls-ca", "PEM file of the CA that signed the server's certificate"),
    ),
    _keyword(
        "tls_cert",
        None,
        _pem_file("--tls-cert", "PEM client certificate, for a server that asks for one (mTLS)"),
    ),
    _keyword(
        "tls_key",
        None,
        _pem_file("--tls-key", "PEM key of --tls-cert"),
    ),
    _keyword(
        "tls_server_name",
        None,
        Annotated[
            str | None,
            typer.Option(
                "--tls-server-name",
                metavar="NAME",
                help="the name the server's certificate must carry, when the target is not one of its names",
                rich_help_panel=PANEL,
            ),
        ],
    ),
    _keyword(
        "token",
        None,
        Annotated[
            str | None,
            typer.Option(
                "--token",
                envvar=TOKEN_ENV,
                show_envvar=True,
                show_default=False,
                metavar="TOKEN",
                help="bearer token sent with every call (prefer the variable: other users can see a flag in ps)",
                rich_help_panel=PANEL,
            ),
        ],
    ),
]


def with_connection(command: Callable[..., Result]) -> Callable[..., Result]:
    """Replace the command's `connection: Connection` parameter by the connection options."""
    shown: list[inspect.Parameter] = []
    for parameter in inspect.signature(command, eval_str=True).parameters.values():
        if parameter.name == "connection":
            shown.extend(CONNECTION_OPTIONS)
        else:  # Typer passes every value by name, so any order of defaults is fine
            shown.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in CONNECTION_OPTIONS]
    assert len({p.name for p in shown}) == len(shown), f"{command.__name__} has a parameter named like an option"

    def run(**values: Any) -> Result:
        return command(connection=_connection(**{name: values.pop(name) for name in names}), **values)

    # Typer reads the command's name and help from these, and its options from the signature.
    wrapper: Any = functools.wraps(command)(run)
    wrapper.__signature__ = inspect.Signature(shown)
    wrapper.__annotations__ = {p.name: p.annotation for p in shown}
    return wrapper


Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout instead of the table")]
Channels = Annotated[
    int,
    typer.Option(
        "--channels",
        min=1,
        help="gRPC channels, each its own connection, taken in turn: reaches every process of serve --workers N",
    ),
]


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
