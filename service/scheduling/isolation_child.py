"""The backend process of an isolated model: load one backend, then answer infer messages.

Started by service/scheduling/isolation.py as a fresh interpreter (exec, never a fork of
the server), importing only the backend registry, the runtime and numpy (never gRPC).
Messages on the pipe (pickled, small):

    server -> child   (runtime, artifact, options, device)   first, once
    server -> child   ("segment", size) + the segment's fd (send_handle)
                      ("infer", [TensorHeader...])        inputs are in the segment
                      ("drop",)                           answer to "grow": forget the outputs
                      ("stop",)
    child -> server   ("loaded", ModelSignature) | ("failed", ErrorPayload)  once, after load
                      ("ok", [TensorHeader...])           outputs are in the segment
                      ("grow", bytes)                     outputs need a bigger segment
                      ("error", ErrorPayload)

Outputs go after the inputs in the same segment, or from offset 0 of a new one after
"grow". A closed pipe means the server is gone: the child exits rather than linger.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from pathlib import Path

import numpy as np

from backends.base import Backend, Device
from backends.options import BackendOptions
from backends.registry import create_backend
from protos import errors as error_classes
from protos.errors import ErrorCode, SwitchyardError
from service.scheduling import tensor_transport as transport


@dataclass(frozen=True)
class ErrorPayload:
    """An exception as it crosses the pipe: our error class and code, its text and its cause's."""

    kind: str  # a protos.errors class name, or "" for an exception that is not ours
    code: str
    message: str
    cause: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> ErrorPayload:
        cause = str(exc.__cause__) if exc.__cause__ is not None else ""
        if isinstance(exc, SwitchyardError):
            return cls(type(exc).__name__, exc.code.value, exc.message, cause)
        return cls("", ErrorCode.INTERNAL.value, str(exc), cause)

    def rebuild(self) -> Exception:
        """The same error on this side: our class when it is ours, a plain RuntimeError otherwise
        (the runner wraps those exactly as it wraps a runtime's own exception inline)."""
        error: Exception
        known = getattr(error_classes, self.kind, None) if self.kind else None
        if isinstance(known, type) and issubclass(known, SwitchyardError):
            try:
                error = known(self.message)
            except TypeError:  # an error class that takes more than a message
                error = SwitchyardError(self.message)
            error.code = ErrorCode(self.code)
        else:
            error = RuntimeError(self.message)
        if self.cause:
            error.__cause__ = RuntimeError(self.cause)
        return error


def main() -> None:
    """`python -c "...; main()" CONN_FD SENTINEL_FD NAME`: the load arguments come first on the pipe."""
    conn_fd, sentinel_fd = int(sys.argv[1]), int(sys.argv[2])
    # Held open until we die (the server waits on it); a process the runtime starts must not hold it too.
    os.set_inheritable(sentinel_fd, False)
    os.set_inheritable(conn_fd, False)
    # Ctrl-C reaches the whole process group; the server decides when its backends stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(conn_fd)
    try:
        runtime, artifact, options, device = conn.recv()
    except EOFError:
        return
    serve(conn, runtime, artifact, options, device)


def serve(conn: Connection, runtime: str, artifact: Path, options: BackendOptions, device: Device) -> None:
    """Load the backend, say so, then answer messages until told to stop or the server goes."""
    backend = create_backend(runtime)
    try:
        signature = backend.load(artifact, options, device)
    except Exception as exc:
        conn.send(("failed", ErrorPayload.of(exc)))
        return
    conn.send(("loaded", signature))
    segment: transport.Segment | None = None
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break  # the server went away
            if message[0] == "segment":
                segment = _replace(segment, conn, message[1])
            elif message[0] == "infer":
                assert segment is not None, "infer before any segment"
                segment = _infer(backend, segment, message[1], conn)
            elif message[0] == "stop":
                break
    finally:
        backend.unload()
        if segment is not None:
            segment.close()


def _replace(old: transport.Segment | None, conn: Connection, size: int) -> transport.Segment:
    new = transport.Segment(recv_handle(conn), size)
    if old is not None:
        old.close()
    return new


def _infer(
    backend: Backend, segment: transport.Segment, headers: list[transport.TensorHeader], conn: Connection
) -> transport.Segment:
    """Run one request and answer it; returns the segment in use afterwards (a new one after a grow)."""
    inputs = transport.read(segment, headers, copy=False)
    end = max((h.offset + h.nbytes for h in headers), default=0)
    try:
        outputs = {name: np.asarray(value) for name, value in backend.infer(inputs).items()}
        del inputs
        try:
            written, _ = transport.write(segment, outputs, start=end)
        except transport.SegmentTooSmall as small:
            conn.send(("grow", small.needed))
            answer = conn.recv()
            if answer[0] != "segment":
                return segment  # "drop": the server refused to grow (over its limit) and answers itself
            bigger = transport.Segment(recv_handle(conn), answer[1])
            segment.close()  # outputs that still view it (a backend returning its input) keep it mapped
            segment = bigger
            written, _ = transport.write(segment, outputs, start=0)
    except Exception as exc:  # the server waits for an answer to this request, whatever went wrong
        conn.send(("error", ErrorPayload.of(exc)))
        return segment
    conn.send(("ok", written))
    return segment
