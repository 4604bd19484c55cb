"""One backend process of an isolated model, seen from the server: start it, wait for its load,
exchange tensors with it through its shared-memory segment, stop it.

The process is a fresh interpreter started by exec (never a fork of the server and its gRPC
threads) running isolation_child.main, joined to us by a socket pair. It also holds the only
write end of a pipe whose read end (the sentinel) becomes readable when it is gone, however
it ended, so one thread can watch many processes with multiprocessing.connection.wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.reduction import send_handle
from pathlib import Path

import numpy as np

from backends.base import ModelSignature
from protos.errors import BackendLoadError, ErrorCode, SwitchyardError
from service.scheduling import tensor_transport as transport

MIB = 1 << 20
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_CHILD_MAIN = "from service.scheduling.isolation_child import main; main()"


def describe_exit(code: int | None) -> str:
    """How a process ended: its signal's name (SIGFPE) or its exit code."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class BackendProcess:
    """A started backend process: its pipe, its death sentinel, its segment, and whether a
    request is on it (busy) or it is known to be gone (alive False)."""

    def __init__(self, slot: int, model: str, process: subprocess.Popen, conn: Connection, sentinel: int) -> None:
        self.slot = slot
        self.model = model
        self.process = process
        self.conn = conn
        self.sentinel = sentinel
        self.segment: transport.Segment | None = None
        self.alive = True
        self.busy = False

    @classmethod
    def start(cls, slot: int, model: str, load_args: tuple) -> BackendProcess:
        """Start the process and send it what to load: (runtime, artifact, options, device)."""
        ours, theirs = socket.socketpair()
        sentinel, held = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(theirs.fileno()), str(held), f"{model}:{slot}"],
                pass_fds=(theirs.fileno(), held),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            ours.close()
            os.close(sentinel)
            raise
        finally:
            theirs.close()  # so that its death closes the pipe for us
            os.close(held)
        child = cls(slot, model, process, Connection(ours.detach()), sentinel)
        with contextlib.suppress(OSError):  # it died at once: await_loaded says how
            child.conn.send(load_args)
        return child

    @property
    def pid(self) -> int:
        return self.process.pid

    def await_loaded(self, timeout: float) -> ModelSignature:
        """The model's signature once loaded; otherwise the load's own error, or how the process
        died, with the process ended and our ends closed."""
        try:
            return self._loaded(timeout)
        except BaseException:
            self.stop(grace=0)
            self.close()
            raise

    def _loaded(self, timeout: float) -> ModelSignature:
        try:
            if not self.conn.poll(timeout):
                raise BackendLoadError(f"the backend process did not load within {timeout:g}s")
            reply = self.conn.recv()
        except (EOFError, ConnectionError):
            raise BackendLoadError(f"the backend process died ({self.exit_status()}) while loading") from None
        if reply[0] == "failed":
            raise reply[1].rebuild()
        return reply[1]

    def exit_status(self, timeout: float = 5.0) -> str:
        """How the process ended (its pipe closing comes first; the status follows at once)."""
        try:
            return describe_exit(self.process.wait(timeout))
        except subprocess.TimeoutExpired:
            return "its pipe closed"

    def exchange(
        self, inputs: Mapping[str, np.ndarray], first_size: int, bigger: Callable[[int, int], int]
    ) -> dict[str, np.ndarray]:
        """Run one request. first_size: the segment to make if there is none yet; bigger(needed,
        current) -> the size to grow to, or raises (RESOURCE_EXHAUSTED) over the limit.
        EOFError / ConnectionError mean the process is gone."""
        if self.segment is None:
            self.give_segment(first_size)
        assert self.segment is not None
        try:
            headers, _ = transport.write(self.segment, inputs)
        except transport.SegmentTooSmall as small:
            self.give_segment(bigger(small.needed, self.segment.size))
            headers, _ = transport.write(self.segment, inputs)
        self.conn.send(("infer", headers))
        reply = self.conn.recv()
        if reply[0] == "grow":  # the outputs did not fit after the inputs
            try:
                size = bigger(reply[1], self.segment.size)
            except SwitchyardError:
                self.conn.send(("drop",))
                raise
            self.give_segment(size)
            reply = self.conn.recv()
        if reply[0] == "error":
            raise reply[1].rebuild()
        return transport.read(self.segment, reply[1], copy=True)

    def give_segment(self, size: int) -> None:
        """A new segment: created here, its descriptor sent down the pipe, the old one closed."""
        try:
            segment = transport.Segment.create(size)
        except OSError as exc:
            raise SwitchyardError(
                f"model '{self.model}': cannot reserve {size / MIB:.1f} MiB of shared memory: {exc.strerror}",
                code=ErrorCode.RESOURCE_EXHAUSTED,
            ) from None
        try:
            self.conn.send(("segment", size))
            send_handle(self.conn, segment.fd, self.pid)
        except BaseException:
            segment.close()
            raise
        if self.segment is not None:
            self.segment.close()
        self.segment = segment

    def stop(self, grace: float = 10.0) -> None:
        """Ask an idle process to unload and exit; end it by signal when busy or slow."""
        if self.process.poll() is None and not self.busy:
            with contextlib.suppress(OSError):  # already gone
                self.conn.send(("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Close our ends (pipe, sentinel, segment); call once no thread uses them."""
        self.conn.close()
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1
        if self.segment is not None:
            self.segment.close()
            self.segment = None
