"""The `switchyard` command line: serve, models, predict, probe."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from service.settings import ServerSettings

app = typer.Typer(help="Switchyard: one gRPC Predict API in front of every accelerator.", no_args_is_help=True)
console = Console()

Target = Annotated[str, typer.Option("--target", "-t", help="server address host:port")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind [env SWITCHYARD_HOST, default 0.0.0.0]")] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port, 0 = any free port [default 8001]")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus port, -1 = off [default 8002]")] = None,
    model_repository: Annotated[Path | None, typer.Option(help="model repository folder [default: bundled]")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="load only these models (repeatable)")] = None,
    backend: Annotated[str | None, typer.Option(help="auto | onnxruntime | openvino | tensorrt")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | gpu[:N] | npu")] = None,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="no fallback when the first choice fails")
    ] = None,
    grace_period: Annotated[float | None, typer.Option(help="seconds in-flight requests get after SIGTERM")] = None,
    max_message_bytes: Annotated[int | None, typer.Option(help="largest request/response message")] = None,
    max_connection_age: Annotated[
        float | None, typer.Option(help="seconds before a client connection is recycled; 0 = never")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="engine / compiled model cache")] = None,
    probe_sysroot: Annotated[Path | None, typer.Option(help="probe the hardware below this root (tests)")] = None,
    allow_repository_admin: Annotated[
        bool | None,
        typer.Option("--allow-repository-admin/--no-repository-admin", help="enable load/unload RPCs (no auth yet!)"),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug | info | warning | error")] = None,
    port_file: Annotated[
        Path | None, typer.Option(help="write the bound gRPC port here once models are loaded")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="server processes sharing the port (SO_REUSEPORT) [default 1]")
    ] = None,
) -> None:
    """Run the gRPC server (flags override SWITCHYARD_* environment variables)."""
    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "metrics_port": metrics_port,
            "model_repository": model_repository,
            "models": model,
            "backend": backend,
            "device": device,
            "strict": strict,
            "grace_period": grace_period,
            "max_message_bytes": max_message_bytes,
            "max_connection_age": max_connection_age,
            "cache_dir": cache_dir,
            "probe_sysroot": probe_sysroot,
            "workers": workers,
            "allow_repository_admin": allow_repository_admin,
            "log_level": log_level,
        }.items()
        if v is not None
    }
    settings = ServerSettings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )
    if settings.workers > 1:
        from service.workers import run_workers

        raise typer.Exit(run_workers(settings, port_file))
    from service.server import serve as run

    def ready(server) -> None:
        summary = Table(title=f"Switchyard on {settings.host}:{server.port}", show_lines=False)
        for column in ("model", "version", "state", "backend", "device", "load s", "detail"):
            summary.add_column(column)
        for entry in server.repository.entries():
            if entry.reason:
                summary.add_row(entry.name, "-", "UNAVAILABLE", "", "", "", entry.reason)
            for v in entry.versions.values():
                loaded = v.loaded
                summary.add_row(
                    entry.name,
                    str(v.version),
                    v.state.value,
                    loaded.backend_name if loaded else "",
                    str(loaded.device) if loaded else "",
                    f"{loaded.load_seconds:.2f}" if loaded else "",
                    v.reason,
                )
        Console(stderr=True).print(summary)
        if port_file:
            port_file.write_text(f"{server.port}\n")

    asyncio.run(run(settings, on_ready=ready))


@app.command()
def models(target: Target = "127.0.0.1:8001") -> None:
    """List the server's models with their state, backend and device."""
    from clients import SwitchyardClient

    with SwitchyardClient(target) as client:
        table = Table()
        for column in ("model", "version", "state", "backend", "device", "inputs", "outputs", "reason"):
            table.add_column(column)
        for info in client.list_models():
            sig_in = ", ".join(f"{t.name}:{t.datatype}{list(t.shape)}" for t in info.inputs)
            sig_out = ", ".join(f"{t.name}:{t.datatype}{list(t.shape)}" for t in info.outputs)
            for v in info.versions:
                table.add_row(
                    info.name, v.version, _state_name(v.state), v.backend, v.device, sig_in, sig_out, v.reason
                )
        console.print(table)


def _state_name(state: int) -> str:
    from protos.switchyard.v1 import predict_pb2

    return predict_pb2.ModelVersionInfo.State.Name(state).removeprefix("STATE_")


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="model name")],
    input: Annotated[list[str], typer.Option("--input", "-i", help="NAME=FILE.npy (repeatable)")],
    target: Target = "127.0.0.1:8001",
    version: Annotated[str, typer.Option(help="model version (default: latest ready)")] = "",
    output: Annotated[list[str] | None, typer.Option("--output", "-o", help="only these outputs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print outputs as JSON")] = False,
    save_dir: Annotated[Path | None, typer.Option(help="write each output to DIR/NAME.npy")] = None,
    timeout: Annotated[float, typer.Option(help="seconds")] = 30.0,
) -> None:
    """Call Predict with inputs from .npy files."""
    from clients import PredictError, SwitchyardClient

    inputs = {}
    for item in input:
        name, sep, path = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected NAME=FILE.npy, got {item!r}", param_hint="--input")
        inputs[name] = np.load(path, allow_pickle=False)
    with SwitchyardClient(target) as client:
        try:
            outputs = client.predict(model, inputs, version=version, outputs=output or (), timeout=timeout)
        except PredictError as error:
            Console(stderr=True).print(f"[red]error[/red] {error.code.name}: {error.details}")
            raise typer.Exit(1) from None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
        for name, array in outputs.items():
            np.save(save_dir / f"{name}.npy", array)
    if as_json:
        print(
            json.dumps(
                {
                    name: {"shape": list(a.shape), "dtype": str(a.dtype), "data": a.tolist()}
                    for name, a in outputs.items()
                }
            )
        )
        return
    table = Table()
    for column in ("output", "dtype", "shape", "min", "max", "mean"):
        table.add_column(column)
    for name, array in outputs.items():
        numeric = array.dtype.kind in "biuf"
        stats = (
            [f"{array.min():.4g}", f"{array.max():.4g}", f"{array.mean():.4g}"]
            if numeric and array.size
            else ["", "", ""]
        )
        table.add_row(name, str(array.dtype), str(list(array.shape)), *stats)
    console.print(table)


@app.command()
def probe(
    sysroot: Annotated[Path, typer.Option(help="read the system under this root (for tests and fixtures)")] = Path("/"),
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
) -> None:
    """Report the CPU, accelerators and runtimes this machine offers, and the backend order."""
    from backends.probe import probe as run_probe
    from service.cli.probe_view import render_report

    report = run_probe(sysroot)
    if as_json:
        print(report.to_json())
        return
    console.print(render_report(report))


@app.command()
def bench(
    model: Annotated[str, typer.Argument(help="model name")] = "tiny_cnn",
    target: Target = "127.0.0.1:8001",
    concurrency: Annotated[
        str, typer.Option("--concurrency", "-c", help="comma-separated list, e.g. 1,8,32")
    ] = "1,8,32",
    seconds: Annotated[float, typer.Option(help="duration per concurrency (ignored with --requests)")] = 5.0,
    requests: Annotated[int | None, typer.Option(help="requests per concurrency instead of a duration")] = None,
    input_name: Annotated[str, typer.Option("--input-name", help="input tensor name")] = "input",
    shape: Annotated[str, typer.Option(help="per-item shape, e.g. 3,64,64")] = "3,64,64",
    batch: Annotated[int, typer.Option(help="batch rows per request")] = 1,
    dtype: Annotated[str, typer.Option(help="numpy dtype of the random input")] = "float32",
    mode: Annotated[str, typer.Option(help="unary | stream")] = "unary",
    channels: Annotated[int, typer.Option(help="gRPC channels (connections) the workers share")] = 1,
    reference: Annotated[Path | None, typer.Option(help="ONNX file or model repository: also run in-process")] = None,
    reference_threads: Annotated[
        int, typer.Option(help="intra-op threads of the in-process reference, 0 = ORT default")
    ] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write results as JSON")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write results as CSV")] = None,
) -> None:
    """Load-test a Predict server: throughput, p50/p90/p99 latency, errors by code (service/cli/bench.py)."""
    from service.cli.bench import BenchOptions, run_bench

    run_bench(
        BenchOptions(
            target=target,
            model=model,
            input_name=input_name,
            shape=tuple(int(d) for d in shape.split(",") if d),
            batch=batch,
            dtype=dtype,
            concurrency=[int(c) for c in concurrency.split(",")],
            seconds=seconds,
            requests=requests,
            mode=mode,
            channels=channels,
            reference=reference,
            reference_threads=reference_threads,
            json_path=json_out,
            csv_path=csv_out,
        ),
        console,
    )


from service.cli.stream import stream  # noqa: E402  (video streaming lives in its own module)

app.command("stream")(stream)
