"""`switchyard bench MODEL`: bounded load over the real Predict API, with the in-process reference.

For each concurrency: a closed loop of `concurrency` workers (unary calls or one stream
each) for `seconds` or `requests`, then a table of throughput, p50/p90/p99 latency and
errors by status code (or the same as JSON on stdout with --json); results also go to
files with --json-out / --csv. With --reference (an ONNX
file or a model repository folder) the same inputs run in-process on the backend,
batch 1 and the requested batch, as the ceiling a server is measured against.
Any server speaking switchyard.v1.Predict can be the target.
"""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.cli.options import Channels, Connection, Json, int_list, with_connection

if TYPE_CHECKING:
    from clients.security import TlsConfig

COLUMNS = (
    "mode",
    "concurrency",
    "batch",
    "requests",
    "errors",
    "infer_per_s",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "errors_by_code",
)


@dataclass
class BenchOptions:
    target: str = "127.0.0.1:8001"
    tls: TlsConfig | bool | None = None  # None: plaintext
    token: str | None = field(default=None, repr=False)
    model: str = "tiny_cnn"
    input_name: str = "input"
    shape: tuple[int, ...] = (3, 64, 64)
    batch: int = 1
    dtype: str = "float32"
    concurrency: list[int] = field(default_factory=lambda: [1, 8, 32])
    seconds: float | None = 5.0
    requests: int | None = None
    mode: str = "unary"  # unary | stream
    timeout: float = 30.0
    channels: int = 1
    warmup: int = 50
    reference: Path | None = None
    reference_backend: str = "onnxruntime"
    reference_threads: int = 0
    json_path: Path | None = None
    csv_path: Path | None = None
    seed: int = 0

    def inputs(self, batch: int | None = None) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        shape = (batch or self.batch, *self.shape)
        return {self.input_name: rng.standard_normal(shape).astype(self.dtype)}


@with_connection
def bench(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="model name")],
    connection: Connection,
    concurrency: Annotated[
        str, typer.Option("--concurrency", "-c", help="comma-separated list, e.g. 1,8,32")
    ] = "1,8,32",
    seconds: Annotated[float, typer.Option(help="duration per concurrency (ignored with --requests)")] = 5.0,
    requests: Annotated[int | None, typer.Option(help="requests per concurrency instead of a duration")] = None,
    input_name: Annotated[str, typer.Option("--input-name", help="input tensor name")] = "input",
    shape: Annotated[str, typer.Option(help="per-item shape, e.g. 3,64,64")] = "3,64,64",
    batch: Annotated[int, typer.Option(min=1, help="batch rows per request")] = 1,
    dtype: Annotated[str, typer.Option(help="numpy dtype of the random input")] = "float32",
    mode: Annotated[str, typer.Option(help="unary | stream")] = "unary",
    channels: Channels = 1,
    reference: Annotated[Path | None, typer.Option(help="ONNX file or model repository: also run in-process")] = None,
    reference_threads: Annotated[
        int, typer.Option(help="intra-op threads of the in-process reference, 0 = ORT default")
    ] = 0,
    as_json: Json = False,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="also write the results as JSON here")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="also write the results as CSV here")] = None,
) -> None:
    """Load-test a Predict server: throughput, p50/p90/p99 latency, errors by status code."""
    if mode not in ("unary", "stream"):
        raise typer.BadParameter(f"expected unary or stream, got {mode!r}", param_hint="--mode")
    try:
        np.dtype(dtype)
    except TypeError:
        raise typer.BadParameter(f"not a numpy dtype: {dtype!r}", param_hint="--dtype") from None
    options = BenchOptions(
        target=connection.target,
        tls=connection.tls,
        token=connection.token,
        model=model,
        input_name=input_name,
        shape=tuple(int_list(shape, "--shape")),
        batch=batch,
        dtype=dtype,
        concurrency=int_list(concurrency, "--concurrency"),
        seconds=seconds,
        requests=requests,
        mode=mode,
        channels=channels,
        reference=reference,
        reference_threads=reference_threads,
        json_path=json_out,
        csv_path=csv_out,
    )
    # With --json, stdout carries the JSON alone: progress and notes go to stderr.
    rows = run_bench(options, Console(stderr=as_json))
    if as_json:
        print(json.dumps(document(rows, options)))
    else:
        Console().print(render(rows, options))


def run_bench(options: BenchOptions, console: Console | None = None) -> list[dict]:
    """Measure, write --json-out / --csv files, return the rows (the caller shows them)."""
    console = console or Console()
    rows = asyncio.run(_serve_rows(options, console))
    if options.reference is not None:
        # The in-process reference runs a backend (the server extra); plain load needs only the client.
        from service.cli.bench_inproc import find_artifact, inprocess_throughput

        artifact = options.reference
        if artifact.is_dir():
            artifact = find_artifact(artifact, options.model)
        seconds = min(options.seconds or 3.0, 3.0)
        for batch in sorted({1, options.batch, max(options.batch, 8)}):
            row = inprocess_throughput(
                artifact,
                options.inputs(batch),
                backend=options.reference_backend,
                seconds=seconds,
                threads=options.reference_threads,
            )
            rows.append(row)
    write_outputs(rows, options)
    return rows


async def _serve_rows(options: BenchOptions, console: Console) -> list[dict]:
    # grpc loads here, after the connection options had their say about its logging (options.py).
    from service.cli.bench_load import check_reply, run_load

    inputs = options.inputs()
    tls, token = options.tls, options.token
    outputs = await check_reply(options.target, options.model, inputs, options.timeout, tls=tls, token=token)
    console.print(
        f"[dim]{options.model} on {options.target} answers: "
        + ", ".join(f"{k} {list(v.shape)}" for k, v in outputs.items())
        + "[/dim]"
    )
    if options.warmup:
        await run_load(
            options.target,
            options.model,
            inputs,
            concurrency=min(8, max(options.concurrency)),
            mode=options.mode,
            requests=options.warmup,
            seconds=None,
            timeout=options.timeout,
            tls=tls,
            token=token,
        )
    rows = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        for concurrency in options.concurrency:
            total = options.requests or None
            task = progress.add_task(f"{options.mode} c={concurrency}", total=total)
            # Updating rich per request would cost the generator more than the call: batch it.
            counter = [0]

            def tick(n: int, task=task, counter=counter) -> None:
                counter[0] += n
                if counter[0] >= 200:
                    progress.advance(task, counter[0])
                    counter[0] = 0

            result = await run_load(
                options.target,
                options.model,
                inputs,
                concurrency=concurrency,
                mode=options.mode,
                requests=options.requests,
                seconds=None if options.requests else options.seconds,
                timeout=options.timeout,
                channels=options.channels,
                progress=tick,
                tls=tls,
                token=token,
            )
            progress.advance(task, counter[0])
            rows.append(result.summary())
    return rows


def render(rows: list[dict], options: BenchOptions) -> Table:
    table = Table(
        title=f"switchyard bench: {options.model} {[options.batch, *options.shape]} {options.dtype} -> {options.target}"
    )
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("mode", "errors_by_code") else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in COLUMNS))
    return table


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def document(rows: list[dict], options: BenchOptions) -> dict:
    """The JSON of a run: what was measured, and one result per row."""
    meta = {
        "target": options.target,
        "model": options.model,
        "shape": [options.batch, *options.shape],
        "dtype": options.dtype,
        "mode": options.mode,
    }
    return {"options": meta, "results": rows}


def write_outputs(rows: list[dict], options: BenchOptions) -> None:
    if options.json_path:
        options.json_path.write_text(json.dumps(document(rows, options), indent=2))
    if options.csv_path:
        with options.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COLUMNS) + ["requests_per_s", "seconds"])
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: (json.dumps(row[k]) if isinstance(row.get(k), dict) else row.get(k)) for k in writer.fieldnames}
                )
