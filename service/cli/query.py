"""`switchyard models [MODEL]` and `switchyard predict MODEL -i NAME=FILE.npy`: ask a running server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from service.cli.errors import CliError
from service.cli.options import Channels, Connection, Json, key_values, with_connection

NPY_MAGIC = b"\x93NUMPY"


@with_connection
def models(
    model: Annotated[str | None, typer.Argument(metavar="MODEL", help="only this model")] = None,
    *,
    connection: Connection,
    as_json: Json = False,
    timeout: Annotated[float, typer.Option(help="seconds")] = 30.0,
) -> None:
    """List the server's models with their state, backend, device and signature."""
    from clients import SwitchyardClient

    with connection.client(SwitchyardClient) as client:
        infos = [client.get_model(model, timeout=timeout)] if model else client.list_models(timeout=timeout)
    if as_json:
        print(json.dumps([model_json(info) for info in infos]))
        return
    table = Table()
    for column in ("model", "version", "state", "backend", "device", "warmup s", "inputs", "outputs", "reason"):
        table.add_column(column)
    for info in infos:
        described = model_json(info)
        sig_in, sig_out = (
            ", ".join(f"{t['name']}:{t['datatype']}{t['shape']}" for t in described[side])
            for side in ("inputs", "outputs")
        )
        # A refused reload: the versions listed still serve; why the new ones did not is told on each row.
        refused = f"reload refused: {info.last_reload_error}" if info.last_reload_error else ""
        for v in described["versions"]:
            warmup = f"{v['warmup_seconds']:.2f}" if v["warmup_seconds"] else ""
            reason = "; ".join(filter(None, (v["reason"], refused)))
            table.add_row(
                info.name, v["version"], v["state"], v["backend"], v["device"], warmup, sig_in, sig_out, reason
            )
    Console().print(table)


def model_json(info: Any) -> dict:
    """A ModelInfo as plain JSON: states by name, shapes as integers (-1 = dynamic)."""
    from protos.switchyard.v1 import predict_pb2

    def tensors(items) -> list[dict]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

    return {
        "name": info.name,
        "max_batch_size": info.max_batch_size,
        "inputs": tensors(info.inputs),
        "outputs": tensors(info.outputs),
        "versions": [
            {
                "version": v.version,
                "state": predict_pb2.ModelVersionInfo.State.Name(v.state).removeprefix("STATE_"),
                "backend": v.backend,
                "device": v.device,
                "load_seconds": round(v.load_seconds, 3),
                # 0 when the model's config lists no warmup.
                "warmup_seconds": round(v.warmup_seconds, 3),
                "reason": v.reason,
            }
            for v in info.versions
        ],
        # Set when the latest reload was refused and the versions above kept serving.
        "last_reload_error": info.last_reload_error,
    }


@with_connection
def predict(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="model name")],
    input: Annotated[list[str], typer.Option("--input", "-i", help="NAME=FILE.npy (repeatable)")],
    connection: Connection,
    version: Annotated[str, typer.Option(help="model version (default: latest ready)")] = "",
    output: Annotated[list[str] | None, typer.Option("--output", "-o", help="only these outputs")] = None,
    as_json: Json = False,
    save_dir: Annotated[Path | None, typer.Option(help="write each output to DIR/NAME.npy")] = None,
    timeout: Annotated[float, typer.Option(help="seconds")] = 30.0,
    channels: Channels = 1,
) -> None:
    """Call Predict with inputs from .npy files; print a summary per output (or all of it with --json)."""
    from clients import SwitchyardClient

    files = key_values(input, "--input", form="NAME=FILE.npy")
    inputs = {name: load_npy(Path(path)) for name, path in files.items()}
    with connection.client(SwitchyardClient, channels=channels) as client:
        outputs = client.predict(model, inputs, version=version, outputs=output or (), timeout=timeout)
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
        for name, array in outputs.items():
            np.save(save_dir / f"{name}.npy", array)
    if as_json:
        print(
            json.dumps(
                {n: {"shape": list(a.shape), "dtype": str(a.dtype), "data": a.tolist()} for n, a in outputs.items()}
            )
        )
        return
    table = Table()
    for column in ("output", "dtype", "shape", "min", "max", "mean"):
        table.add_column(column)
    for name, array in outputs.items():
        numeric = array.dtype.kind in "biuf" and array.size
        stats = [f"{array.min():.4g}", f"{array.max():.4g}", f"{array.mean():.4g}"] if numeric else ["", "", ""]
        table.add_row(name, str(array.dtype), str(list(array.shape)), *stats)
    Console().print(table)


def load_npy(path: Path) -> np.ndarray:
    """One input file; anything that is not a readable .npy array is a one-line error naming the file."""
    if not path.is_file():
        raise CliError(f"input file {path} {'is a directory' if path.is_dir() else 'does not exist'}")
    with path.open("rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise CliError(f"input file {path} is not a .npy file (write one with numpy.save)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:  # truncated, or an object array (which would need pickle)
        raise CliError(f"cannot read {path}: {error}") from None
