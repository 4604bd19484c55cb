"""Shared by the outside-client programs (run by .venv-triton's python, never imported by pytest)."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="host:port of the server's gRPC endpoint")
    return parser.parse_args()


def emit(report: dict) -> None:
    """The one line pytest reads: the whole report as JSON."""
    json.dump(report, sys.stdout, default=_jsonable)
    sys.stdout.write("\n")


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(1)


def tensor_report(array: np.ndarray) -> dict:
    if array.dtype == object or array.dtype.kind == "S":
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.ravel()]
    else:
        values = array.astype(np.float64 if array.dtype.kind == "f" else np.int64).ravel().tolist()
    return {"dtype": str(array.dtype), "shape": list(array.shape), "values": values}


def error_report(exc) -> dict:
    """An InferenceServerException (or grpc.RpcError) as status + message."""
    if hasattr(exc, "code") and callable(exc.code):
        return {"status": exc.code().name, "message": exc.details()}
    status = exc.status() or ""
    return {"status": status.replace("StatusCode.", ""), "message": exc.message()}


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot serialise {type(value).__name__}")
