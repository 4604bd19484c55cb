"""One line per mistake: how `switchyard` turns an exception into a message on stderr and an exit code.

Commands raise what they raise: CliError for mistakes they detect themselves, anything else
as it comes. `run_guarded` runs the Typer app and maps the kinds a user can cause (usage
errors, gRPC status codes, missing files, invalid settings, ports in use, unreadable media,
missing extras) to one line starting with "error:"; `--debug` prints the traceback as well.

Optional libraries (grpc, pydantic, av) are looked up in sys.modules, never imported here:
if a module was never loaded, none of its exceptions can have been raised.
"""

from __future__ import annotations

import errno
import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, cast

import typer
from typer.main import get_command

# Typer vendors click in new releases and depends on it in old ones: take click's exceptions from Typer.
_click = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _click.UsageError
ClickException: type[Exception] = _click.ClickException
NoArgsIsHelpError: type[Exception] | None = getattr(_click, "NoArgsIsHelpError", None)


class _ClickError(Protocol):
    exit_code: int
    ctx: Any

    def format_message(self) -> str: ...


class CliError(Exception):
    """A mistake the CLI detected itself; `message` is the line the user reads."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Invocation:
    """What the running command told the handler about itself: the server it talks to, --debug,
    and the secrets (a bearer token) that no error line or traceback may show."""

    target: str | None = None
    debug: bool = False
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return text


invocation = Invocation()

# Which extra of the package brings a module a command may miss.
EXTRA_OF_MODULE = {
    "av": "video",
    "cv2": "video",
    "simplejpeg": "video",
    "pydantic": "server",
    "pydantic_settings": "server",
    "yaml": "server",
    "prometheus_client": "server",
    "grpc_health": "server",
    "grpc_reflection": "server",
    "datasketches": "server",
    "redis": "server",
    "opentelemetry": "server",
    "onnxruntime": "cpu",
    "openvino": "cpu",
}


def require_extra(extra: str, command: str) -> None:
    """Fail in one line, before any work, when a module of `extra` is not installed."""
    missing = [m for m, e in EXTRA_OF_MODULE.items() if e == extra and importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(f"switchyard {command} needs the {extra} extra: pip install 'switchyard[{extra}]'")


def run_guarded(app: typer.Typer, args: Sequence[str] | None = None) -> NoReturn:
    """Run the app; exit with its code, or print one line for a failure and exit non-zero."""
    try:
        result = get_command(app).main(args=args, prog_name="switchyard", standalone_mode=False)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # `raise SystemExit("message")` deep inside: still one line
            _report(exit_, exit_.code, 1)
        raise
    except Exception as exc:  # every failure, mapped below; SystemExit and KeyboardInterrupt are not Exceptions
        if NoArgsIsHelpError is not None and isinstance(exc, NoArgsIsHelpError):
            typer.echo(cast(_ClickError, exc).ctx.get_help())
            sys.exit(0)
        _report(exc, *explain(exc))
    sys.exit(result if isinstance(result, int) else 0)


def _report(exc: BaseException, message: str, code: int) -> NoReturn:
    if invocation.debug:
        print(invocation.redact("".join(traceback.format_exception(exc))), end="", file=sys.stderr)
    print(f"error: {invocation.redact(message)}", file=sys.stderr)
    sys.exit(code)


def explain(exc: BaseException) -> tuple[str, int]:
    """(one-line message, exit code) for any exception."""
    if isinstance(exc, CliError):
        return _one_line(exc.message), exc.exit_code
    if isinstance(exc, UsageError):
        return _usage(cast(_ClickError, exc)), 2
    if isinstance(exc, ClickException):
        clicked = cast(_ClickError, exc)
        return _one_line(_lower_first(clicked.format_message())), clicked.exit_code
    for describe in EXPLAINERS:
        message = describe(exc)
        if message:
            return _one_line(message), 1
    detail = _one_line(str(exc))
    return f"unexpected failure{f' ({detail})' if detail else ''}; run with --debug to see the traceback", 1


def _usage(exc: _ClickError) -> str:
    message = _lower_first(exc.format_message()).rstrip(".")
    path = exc.ctx.command_path if exc.ctx else "switchyard"
    return f"{_one_line(message)} (see '{path} --help')"


def _grpc_status(exc: BaseException) -> str | None:
    """grpc.RpcError (code() and details() methods) and clients' PredictError (code and details fields)."""
    grpc = sys.modules.get("grpc")
    code = getattr(exc, "code", None)
    code = code() if callable(code) else code
    if grpc is None or not isinstance(code, grpc.StatusCode):
        return None
    details = getattr(exc, "details", "")
    details = _one_line((details() if callable(details) else details) or "")
    where = invocation.target or "the server"
    if code is grpc.StatusCode.UNAVAILABLE:
        tls = _tls_failure(details, where)
        if tls:
            return tls
    if code is grpc.StatusCode.UNAVAILABLE and re.search(r"failed to connect|resolv|Connection refused", details):
        if "refused" in details:
            reason = "connection refused"
        elif "resolv" in details:
            reason = "unknown host"
        else:
            reason = details.rsplit(": ", 1)[-1].lower()
        return f"cannot reach the server at {where} ({reason})"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the server at {where} did not answer in time (DEADLINE_EXCEEDED)"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return f"the server at {where} does not offer this call; is it a Switchyard server? (UNIMPLEMENTED)"
    if code is grpc.StatusCode.UNAUTHENTICATED:
        # The server never repeats a token; the handler redacts the line anyway (invocation.secrets).
        hint = "" if invocation.secrets else "; pass --token TOKEN or set SWITCHYARD_TOKEN"
        return f"UNAUTHENTICATED from {where}: {details}{hint}"
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return f"PERMISSION_DENIED from {where}: {details} (use a token or certificate with that group)"
    return f"{code.name} from {where}: {details}"


# gRPC's words for a failed handshake, e.g. "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL:
# error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: certificate has expired: OK"
_HANDSHAKE = re.compile(
    r"(?:Tls|Ssl) handshake failed(?: \(\w+\))?: (?:SSL_ERROR_\w+: )?(?:error:\w+:[^:]*:[^:]*:)?"
    r"(?P<code>[A-Z_]+)(?:: (?P<why>.*?))?(?:: OK)?$"
)
# Words of gRPC's reason -> (keep its detail, a hint for the user).
_TLS_HINTS = {
    "unable to get local issuer certificate": (True, "is --tls-ca the CA that signed the server's certificate?"),
    "self signed certificate": (True, "is --tls-ca the CA that signed the server's certificate?"),
    "certificate has expired": (True, "the server's certificate needs renewing, or this machine's clock is wrong"),
    "wrong version number": (False, "the server may not use TLS: leave out the --tls options"),
}


def _tls_failure(details: str, where: str) -> str | None:
    """One line for a connection that TLS stopped, or None when TLS is not why it failed."""
    found = _HANDSHAKE.search(details)
    if found:
        reason, why = found["code"].lower().replace("_", " "), found["why"] or ""
        keep, hint = next(((k, h) for words, (k, h) in _TLS_HINTS.items() if words in f"{reason}: {why}"), (True, ""))
        text = f"{reason}: {why}" if why and keep else reason
        return f"TLS handshake with {where} failed: {text}{f' ({hint})' if hint else ''}"
    if "Hostname Verification Check failed" in details:
        return (
            f"TLS handshake with {where} failed: the server's certificate does not carry the name dialled "
            "(pass a name it carries with --tls-server-name)"
        )
    if "Failed to create security handshaker" in details:
        return f"TLS set-up for {where} failed: the client key does not match --tls-cert, or a PEM file is not valid"
    if re.search(r"failed to connect.*Socket closed", details):
        return (
            f"the server at {where} closed the connection during set-up: it may need TLS (--tls-ca) "
            "or a client certificate (--tls-cert/--tls-key)"
        )
    return None


def _validation(exc: BaseException) -> str | None:
    """pydantic's ValidationError, one clause per invalid value, each naming its flag and variable."""
    core = sys.modules.get("pydantic_core")
    if core is None or not isinstance(exc, core.ValidationError):
        return None
    clauses = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        where = _setting_label(field) if exc.title == "ServerSettings" else f"{exc.title}.{field}"
        value = error.get("input")
        shown = f" {value!r}" if isinstance(value, str | int | float) else ""
        clauses.append(f"invalid value{shown} for {where}: {_lower_first(error['msg'])}")
    return "; ".join(clauses)


def _settings_source(exc: BaseException) -> str | None:
    """pydantic-settings could not parse an environment variable (list values are JSON)."""
    settings = sys.modules.get("pydantic_settings")
    if settings is None or not isinstance(exc, settings.SettingsError):
        return None
    found = re.search(r'field "(\w+)"', str(exc))
    if not found:
        return str(exc)
    return f"cannot parse {_setting_label(found.group(1))}: list values are JSON, e.g. '[\"tiny_cnn\"]'"


def _setting_label(field: str) -> str:
    from service.cli.serve import setting_label

    return setting_label(field)


def _media(exc: BaseException) -> str | None:
    """PyAV (FFmpeg) could not open or decode a file, URL or device."""
    av = sys.modules.get("av")
    if av is None or not isinstance(exc, av.error.FFmpegError):
        return None
    reason = _lower_first(str(exc.strerror or exc))
    return f"cannot open {exc.filename}: {reason}" if exc.filename else reason


def _os_error(exc: BaseException) -> str | None:
    if not isinstance(exc, OSError):
        return None
    name = exc.filename
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {name}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {name}"
    if exc.errno == errno.EADDRINUSE:
        return "address already in use: pick another --port / --metrics-port, or stop the other server"
    reason = _lower_first(exc.strerror or str(exc))
    return f"{name}: {reason}" if name else reason


def _missing_module(exc: BaseException) -> str | None:
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    extra = EXTRA_OF_MODULE.get(exc.name.split(".")[0])
    hint = f": pip install 'switchyard[{extra}]'" if extra else ""
    return f"the Python module '{exc.name}' is not installed{hint}"


EXPLAINERS: tuple[Callable[[BaseException], str | None], ...] = (
    _grpc_status,
    _validation,
    _settings_source,
    _media,  # before _os_error: PyAV's FileNotFoundError is an FFmpegError too
    _os_error,
    _missing_module,
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _lower_first(text: str) -> str:
    # "Invalid value" -> "invalid value", but "NOT_FOUND" and "SWITCHYARD_PORT" stay as they are.
    return text[0].lower() + text[1:] if len(text) > 1 and text[0].isupper() and text[1].islower() else text
