"""`switchyard serve`: flags over SWITCHYARD_* settings, checks before any model loads, then the server.

The flags default to None so that an unset flag leaves the environment (read by the pydantic
settings) in charge; `--help` shows ServerSettings' real defaults and variable names instead.
Nothing of the server stack is imported until serve runs (or its help is shown).
"""

from __future__ import annotations

import copy
import errno
import inspect
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from service.cli.errors import CliError, require_extra

if TYPE_CHECKING:
    from service.settings import ServerSettings

ENV_PREFIX = "SWITCHYARD_"
FIELD_OF_PARAMETER = {"model": "models"}  # where a flag's name differs from its ServerSettings field


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port, 0 = any free port")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus port, -1 = off")] = None,
    http_port: Annotated[int | None, typer.Option(help="KServe v2 REST port (default 8000), -1 = off")] = None,
    model_repository: Annotated[Path | None, typer.Option(help="model repository folder")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="load only these models (repeatable)")] = None,
    backend: Annotated[str | None, typer.Option(help="auto | onnxruntime | openvino | tensorrt")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | gpu[:N] | npu")] = None,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="no fallback when the first choice fails")
    ] = None,
    grace_period: Annotated[float | None, typer.Option(help="seconds in-flight requests get after SIGTERM")] = None,
    max_message_bytes: Annotated[int | None, typer.Option(help="largest request/response message")] = None,
    max_image_pixels: Annotated[
        int | None, typer.Option(help="largest picture an image or video frame may declare (width x height)")
    ] = None,
    max_stream_pending_bytes: Annotated[
        int | None, typer.Option(help="decoded frames and unread replies one video stream may hold")
    ] = None,
    max_inflight_bytes: Annotated[
        int | None, typer.Option(help="bytes all requests in flight may hold (their tensors as received and decoded)")
    ] = None,
    inline_compute_us: Annotated[
        float | None,
        typer.Option(help="run a CPU model on the event loop while its calls' p95 is under this (µs); 0 = never"),
    ] = None,
    cpu_scheduling: Annotated[
        str | None,
        typer.Option(help="batch: grpc's helper threads never preempt the event loop (Linux SCHED_BATCH) | normal"),
    ] = None,
    max_connection_age: Annotated[
        float | None, typer.Option(help="seconds before a client connection is recycled; 0 = never")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="engine / compiled model cache")] = None,
    probe_sysroot: Annotated[Path | None, typer.Option(help="probe the hardware below this root (tests)")] = None,
    allow_repository_admin: Annotated[
        bool | None,
        typer.Option(
            "--allow-repository-admin/--no-repository-admin",
            help="enable load/unload RPCs (off loopback: only with an --auth-config that grants admin)",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): TLS on the gRPC port, re-read when it changes")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option(help="require client certificates signed by this CA (mTLS)")
    ] = None,
    auth_config: Annotated[
        Path | None, typer.Option(help="YAML: tokens, client certificates and the RPC groups each may call")
    ] = None,
    health_port: Annotated[int | None, typer.Option(help="plaintext grpc.health.v1 port for probes, -1 = off")] = None,
    metrics_tls: Annotated[
        bool | None, typer.Option("--metrics-tls/--no-metrics-tls", help="serve /metrics over HTTPS (--tls-cert)")
    ] = None,
    metrics_token_sha256: Annotated[
        str | None, typer.Option(help="SHA-256 (hex) of the bearer token /metrics requires")
    ] = None,
    model_control: Annotated[
        str | None, typer.Option(help="all: load every model (or --model); explicit: only --model ones, maybe none")
    ] = None,
    strict_readiness: Annotated[
        bool | None,
        typer.Option(
            "--strict-readiness/--no-strict-readiness",
            help='health "" is SERVING only when every model is READY (off: when one is)',
        ),
    ] = None,
    repository_poll_seconds: Annotated[
        float | None, typer.Option(help="look for changed models every S seconds and reload them; 0 = off")
    ] = None,
    reload_drain_seconds: Annotated[
        float | None, typer.Option(help="seconds running requests get on a version a reload replaced")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug | info | warning | error")] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text | json | auto (json unless stdout is a terminal)")
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help="log every request, not only failed and slow")
    ] = None,
    otel_endpoint: Annotated[
        str | None, typer.Option(help="OTLP collector HOST:PORT to export traces to (default: none, tracing off)")
    ] = None,
    otel_protocol: Annotated[str | None, typer.Option(help="grpc | http/protobuf")] = None,
    trace_rate: Annotated[
        float | None, typer.Option(help="share of requests traced, 0..1 (a sampled client trace is always continued)")
    ] = None,
    trace_slow_ms: Annotated[
        float | None, typer.Option(help="requests slower than this are logged and traced whatever the rate")
    ] = None,
    cache_bytes: Annotated[
        int | None, typer.Option(help="bytes of the in-process response cache (0 = off); docs/cache.md")
    ] = None,
    cache_redis: Annotated[
        str | None,
        typer.Option(
            help="redis:// or rediss:// URL of a response cache shared by replicas (password: in the URL "
            "or SWITCHYARD_CACHE_REDIS_PASSWORD)"
        ),
    ] = None,
    cache_lookup_timeout_ms: Annotated[
        float | None, typer.Option(help="a Redis lookup slower than this is a miss")
    ] = None,
    port_file: Annotated[
        Path | None, typer.Option(help="write the bound gRPC port here once models are loaded")
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(help="server processes sharing the port (SO_REUSEPORT); auto: one per usable core, 1 on a GPU"),
    ] = None,
    shared_memory: Annotated[
        str | None,
        typer.Option(
            help="OIP system shared memory (same-host clients): auto (on when bound to loopback) | system | off"
        ),
    ] = None,
) -> None:
    """Run the gRPC server. Every flag is also a SWITCHYARD_<NAME> environment variable; flags win."""
    given = {k: v for k, v in locals().items() if v is not None and k != "port_file"}
    # gRPC's C core logs through absl straight to stderr, past Python logging: left unset it
    # writes INFO lines (fork_posix.cc when a runtime forks, ...) that are neither JSON nor
    # ours. Set before grpc loads; its errors still show, and a GRPC_VERBOSITY the user set wins.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    require_extra("server", "serve")
    from service.settings import ServerSettings

    settings = ServerSettings(**{FIELD_OF_PARAMETER.get(k, k): v for k, v in given.items()})
    why = None
    if settings.workers == "auto":
        from service.workers import auto_workers

        count, why = auto_workers(settings)
        settings = settings.model_copy(update={"workers": count})
    check_before_loading(settings)
    log_format = _configure_logging(settings.log_level, settings.log_format)
    import logging

    if why:
        logging.getLogger("switchyard.workers").info("--workers auto: %s", why)
    if int(settings.workers) > 1:
        from service.workers import run_workers

        raise typer.Exit(run_workers(settings, port_file))
    import asyncio

    from service.cpu_scheduling import apply_cpu_scheduling
    from service.server import serve as run

    # Before grpc, a runtime or an executor starts a thread: they all inherit the policy.
    logging.getLogger("switchyard.server").info("cpu scheduling: %s", apply_cpu_scheduling(settings.cpu_scheduling))

    def ready(server) -> None:
        if log_format == "json":
            _log_summary(server)
        else:
            _print_summary(server, settings.host)
        if port_file:
            port_file.write_text(f"{server.port}\n")

    asyncio.run(run(settings, on_ready=ready))


def check_before_loading(settings: ServerSettings) -> None:
    """The mistakes that would otherwise surface after seconds of loading, or as a runtime's log lines."""
    root = settings.model_repository
    if not root.is_dir():
        raise CliError(
            f"model repository {shown_path(root)} does not exist: "
            "pass --model-repository DIR or run scripts/fetch_models.py"
        )
    # The repository's own rule (service/repository/repository.py): a model is a folder with a config.yaml.
    available = sorted(p.parent.name for p in root.glob("*/config.yaml"))
    unknown = [name for name in settings.models if name not in available]
    if unknown:
        has = ", ".join(available) if available else "no models"
        raise CliError(f"no model {', '.join(map(repr, unknown))} in {shown_path(root)} (it has {has})")
    if int(settings.workers) > 1 and settings.port == 0:
        raise CliError("--workers needs a fixed --port: port 0 would give each worker its own port")
    if int(settings.workers) > 1 and settings.http_port == 0:
        raise CliError("--workers needs a fixed --http-port (or -1, off): port 0 would give each worker its own port")
    if not settings.reuse_port:  # workers of one `serve --workers N` share the port on purpose
        check_port_free(settings.host, settings.port, "--port")
        if settings.metrics_port > 0:
            check_port_free(settings.host, settings.metrics_port, "--metrics-port")
        if settings.http_port > 0:
            check_port_free(settings.host, settings.http_port, "--http-port")
        if settings.health_port > 0:
            check_port_free(settings.host, settings.health_port, "--health-port")
    from service.security.startup import SecurityError, ServerSecurity

    try:
        ServerSecurity.from_settings(settings)  # TLS files, auth config and admin exposure, before loading
    except SecurityError as error:
        raise CliError(str(error)) from None


def check_port_free(host: str, port: int, flag: str) -> None:
    """Bind and release the port as the server would (SO_REUSEADDR), so a taken port is one line."""
    if port == 0:
        return
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except socket.gaierror:
            raise CliError(f"cannot listen on {host}: unknown host (--host)") from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on {host} is already in use ({flag}): stop the other server") from None
            if error.errno == errno.EADDRNOTAVAIL:
                raise CliError(f"cannot listen on {host}: not an address of this machine (--host)") from None
            raise


def shown_path(path: Path) -> str:
    """The bundled repository without its long site-packages prefix; any other path as the user gave it."""
    from service.settings import DEFAULT_REPOSITORY

    if path != DEFAULT_REPOSITORY:
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return f".../{path.name}"


def setting_label(field: str) -> str:
    """How a user sets a ServerSettings field: its serve flag, if it has one, and its variable."""
    parameters = {FIELD_OF_PARAMETER.get(p, p): p for p in inspect.signature(serve).parameters}
    variable = f"{ENV_PREFIX}{field.upper()}"
    return f"--{parameters[field].replace('_', '-')} / {variable}" if field in parameters else variable


class ServeCommand(TyperCommand):
    """Help shows each flag's ServerSettings default and variable; parsing is untouched."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from service.settings import ServerSettings

        shown = copy.copy(self)
        shown.params = [_with_setting(p, ServerSettings) for p in self.params]
        TyperCommand.format_help(shown, ctx, formatter)


def _with_setting(param: Any, settings: type[ServerSettings]) -> Any:
    field = settings.model_fields.get(FIELD_OF_PARAMETER.get(param.name, param.name))
    if field is None:
        return param
    shown = copy.copy(param)
    shown.envvar, shown.show_envvar = f"{ENV_PREFIX}{FIELD_OF_PARAMETER.get(param.name, param.name).upper()}", True
    default = field.get_default(call_default_factory=True)
    if default not in (None, [], ""):
        shown.default = shown_path(default) if isinstance(default, Path) else default
        shown.show_default = True
    return shown


def _configure_logging(level: str, log_format: str) -> str:
    from service.observability.logging import configure_logging

    return configure_logging(level, log_format)


def _log_summary(server) -> None:
    """The start-up table as records, one per row: in json mode every line is one JSON object."""
    import logging

    from service.repository.summary import summary_rows

    log = logging.getLogger("switchyard.summary")
    for row in summary_rows(server.repository.entries()):
        log.info("model %s version %s %s", row.model, row.version, row.state, extra={"fields": row.record()})


def _print_summary(server, host: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from service.repository.summary import COLUMNS, summary_rows

    summary = Table(title=f"Switchyard on {host}:{server.port}", show_lines=False)
    for column in COLUMNS:
        summary.add_column(column)
    # The same rows as the one-line-per-model log (service/repository/summary.py).
    for row in summary_rows(server.repository.entries()):
        summary.add_row(*row.cells())
    Console(stderr=True).print(summary)
