"""`switchyard load MODEL`, `unload MODEL` and `index`: the OIP repository RPCs of a running server.

The server must allow them (`serve --allow-repository-admin`, and off loopback an admin
identity in its --auth-config). A load of a model that serves loads, warms and swaps in the
new version; if that fails the old one keeps serving and the command says why and exits 1.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.cli.options import Connection, Json, with_connection

if TYPE_CHECKING:
    from protos.inference import grpc_service_pb2_grpc

Timeout = Annotated[float, typer.Option(help="seconds (a load waits for the model's load and warmup)")]
Model = Annotated[str, typer.Argument(metavar="MODEL", help="model name (its folder in the repository)")]


def _call(connection: Connection, rpc: str, request_of, timeout: float):
    """One OIP repository RPC over the command's connection (TLS and token included)."""
    from clients.security import open_channel
    from protos.inference import grpc_service_pb2 as oip
    from protos.inference import grpc_service_pb2_grpc as oip_grpc

    channel = connection.client(lambda target, tls, token: open_channel(target, tls=tls, token=token))
    try:
        stub: grpc_service_pb2_grpc.GRPCInferenceServiceStub = oip_grpc.GRPCInferenceServiceStub(channel)
        return getattr(stub, rpc)(request_of(oip), timeout=timeout)
    finally:
        channel.close()


@with_connection
def load(model: Model, *, connection: Connection, as_json: Json = False, timeout: Timeout = 600.0) -> None:
    """Load MODEL, or reload it from its folder: the new version serves once it is READY and warmed up."""
    _call(connection, "RepositoryModelLoad", lambda oip: oip.RepositoryModelLoadRequest(model_name=model), timeout)
    _done(as_json, {"model": model, "loaded": True}, f"model {model} loaded")


@with_connection
def unload(model: Model, *, connection: Connection, as_json: Json = False, timeout: Timeout = 120.0) -> None:
    """Unload MODEL once its running requests finished; later requests get NOT_FOUND."""
    _call(connection, "RepositoryModelUnload", lambda oip: oip.RepositoryModelUnloadRequest(model_name=model), timeout)
    _done(as_json, {"model": model, "unloaded": True}, f"model {model} unloaded")


@with_connection
def index(
    *,
    connection: Connection,
    ready: Annotated[bool, typer.Option("--ready", help="only models that are READY")] = False,
    as_json: Json = False,
    timeout: Timeout = 30.0,
) -> None:
    """The models of the server's repository (loaded or not) with their versions and states."""
    reply = _call(connection, "RepositoryIndex", lambda oip: oip.RepositoryIndexRequest(ready=ready), timeout)
    rows = [{"model": m.name, "version": m.version, "state": m.state, "reason": m.reason} for m in reply.models]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table()
    for column in ("model", "version", "state", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["model"], row["version"], row["state"], row["reason"])
    Console().print(table)


def _done(as_json: bool, result: dict, line: str) -> None:
    print(json.dumps(result) if as_json else line)
