"""Process isolation: a model's backend runs in child processes, so a runtime crash takes down
only that model, which then restarts.

IsolatedBackend is the server-side half. It implements the Backend interface, so the
ModelRunner's executor threads drive it exactly as they drive an inline backend (batching
unchanged); each of the model's instances gets its own child process (a fresh
interpreter started by exec, never a fork of a process with gRPC threads) with its own shared-memory
segment (tensor_transport). When a child dies, by signal or exit:

- the request running on it fails with ModelUnavailableError naming the signal,
- one warning is logged and the restart counter goes up,
- watchers (the repository) hear (False, reason), so the version shows UNAVAILABLE with why,
- the child is restarted after a delay that doubles per death without a success in between,
  up to a bound, and watchers hear (True, "") once every instance is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import send_handle
from pathlib import Path

import numpy as np

from backends.base import Device, ModelSignature
from backends.options import BackendOptions
from protos.datatypes import numpy_dtype
from protos.errors import BackendError, BackendLoadError, ErrorCode, ModelUnavailableError, SwitchyardError
from service.scheduling import tensor_transport as transport

log = logging.getLogger(__name__)

MIB = 1 << 20
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_CHILD_MAIN = "from service.scheduling.isolation_child import main; main()"
Watcher = Callable[[bool, str], None]


@dataclass(frozen=True)
class IsolationPolicy:
    processes: int = 1  # one per model instance
    restart_backoff_s: float = 0.1  # the first restart's delay; doubles per death without a success
    restart_backoff_max_s: float = 30.0
    min_segment_bytes: int = MIB
    max_segment_bytes: int = 256 * MIB  # the most one request's inputs plus outputs may take
    max_batch_size: int = 0  # sizes the first segment from the signature
    load_timeout_s: float = 300.0

    def backoff(self, deaths: int) -> float:
        """The delay before restart number `deaths` of a run without a success."""
        return min(self.restart_backoff_s * 2 ** max(deaths - 1, 0), self.restart_backoff_max_s)


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


def segment_estimate(signature: ModelSignature, max_batch_size: int) -> int:
    """Bytes for one full batch of inputs and outputs, dynamic dims counted as 1 (BYTES as 0)."""
    total = 0
    for spec in (*signature.inputs, *signature.outputs):
        if spec.datatype == "BYTES":
            continue
        dims = [max(d, 1) for d in spec.shape]
        if dims and max_batch_size and spec.shape[0] < 0:
            dims[0] = max_batch_size
        total = transport.aligned(total + int(np.prod(dims, dtype=np.int64)) * numpy_dtype(spec.datatype).itemsize)
    return total


class _Child:
    """One backend process: its pipe, its death sentinel, its segment, whether a request is on it."""

    def __init__(self, slot: int, process: subprocess.Popen, conn: Connection, sentinel: int) -> None:
        self.slot = slot
        self.process = process
        self.conn = conn
        # Readable (EOF) once the process is gone: it holds the only write end.
        self.sentinel = sentinel
        self.segment: transport.Segment | None = None
        self.alive = True
        self.busy = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_status(self, timeout: float = 5.0) -> str:
        """How the process ended (its pipe closing comes first; the status follows at once)."""
        try:
            return describe_exit(self.process.wait(timeout))
        except subprocess.TimeoutExpired:
            return "its pipe closed"

    def close(self) -> None:
        self.conn.close()
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1
        if self.segment is not None:
            self.segment.close()
            self.segment = None

    def stop(self, grace: float = 10.0) -> None:
        """Ask an idle child to unload and exit; end it by signal when busy or slow."""
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


def _start_process(name: str) -> tuple[subprocess.Popen, Connection, int]:
    """A fresh interpreter running isolation_child.main (never a fork of this process and its
    gRPC threads), joined to us by a socket pair, plus the read end of its death sentinel."""
    ours, theirs = socket.socketpair()
    sentinel, held = os.pipe()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_MAIN, str(theirs.fileno()), str(held), name],
            pass_fds=(theirs.fileno(), held),
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except BaseException:
        ours.close()
        os.close(sentinel)
        raise
    finally:
        theirs.close()
        os.close(held)
    return process, Connection(ours.detach()), sentinel


class IsolatedBackend:
    """A Backend whose runtime (`runtime`, a registry name) runs in child processes."""

    def __init__(self, runtime: str, model: str, version: str = "", policy: IsolationPolicy | None = None) -> None:
        self.name = runtime
        self._runtime = runtime
        self._model = model
        self._version = version
        self.policy = policy or IsolationPolicy()
        self._cond = threading.Condition()
        self._slots: list[_Child | None] = []
        self._idle: list[_Child] = []
        self._starting: list[_Child] = []
        self._load_args: tuple[Path, BackendOptions, Device] | None = None
        self._segment_bytes = self.policy.min_segment_bytes
        self._watchers: list[Watcher] = []
        self._down_reason = ""
        self._deaths_in_a_row = 0
        self._restarts = 0
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._monitor: threading.Thread | None = None

    # -- what the server reads ------------------------------------------------------------

    @property
    def restarts(self) -> int:
        """Backend processes restarted after they died (one per death)."""
        return self._restarts

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [c.pid for c in self._slots if c is not None and c.pid is not None]

    def watch(self, watcher: Watcher) -> None:
        """watcher(ready, reason) is called (from a monitor thread) when a process dies or all are back."""
        self._watchers.append(watcher)

    # -- Backend ----------------------------------------------------------------------------

    def load(self, artifact: Path, options: BackendOptions, device: Device) -> ModelSignature:
        self._load_args = (artifact, options, device)
        children = [self._spawn(slot) for slot in range(self.policy.processes)]
        try:
            signatures = [self._await_loaded(child) for child in children]
        except BaseException:
            for child in children:
                child.stop()
                child.close()
            raise
        signature = signatures[0]
        wanted = segment_estimate(signature, self.policy.max_batch_size)
        self._segment_bytes = min(max(wanted, self.policy.min_segment_bytes), self.policy.max_segment_bytes)
        with self._cond:
            self._slots = list(children)
            self._idle = list(children)
        self._monitor = threading.Thread(target=self._watch, name=f"isolation-{self._model}", daemon=True)
        self._monitor.start()
        return signature

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        child = self._acquire()
        dead = False
        try:
            outputs = self._exchange(child, inputs)
        except (EOFError, ConnectionError) as exc:  # the pipe closed under us: the process is gone
            dead = True
            raise self._died(child) from exc
        finally:
            self._release(child, dead)
        self._deaths_in_a_row = 0
        return outputs

    def unload(self) -> None:
        self._stopping.set()
        os.write(self._wake_w, b"x")
        with self._cond:
            children = [c for c in (*self._slots, *self._starting) if c is not None]
            self._slots, self._idle = [], []
            self._cond.notify_all()
        for child in children:
            child.stop()
        if self._monitor is not None:
            self._monitor.join(30)
        for child in children:
            with self._cond:
                if not child.busy:
                    child.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, slot: int) -> _Child:
        assert self._load_args is not None
        process, conn, sentinel = _start_process(f"{self._model}:{slot}")
        child = _Child(slot, process, conn, sentinel)
        with self._cond:
            self._starting.append(child)
        try:
            conn.send((self._runtime, *self._load_args))
        except OSError:
            pass  # it died at once: _await_loaded reports how
        return child

    def _await_loaded(self, child: _Child) -> ModelSignature:
        try:
            if not child.conn.poll(self.policy.load_timeout_s):
                child.stop(grace=0)
                raise BackendLoadError(f"the backend process did not load within {self.policy.load_timeout_s:g}s")
            reply = child.conn.recv()
        except (EOFError, ConnectionError):
            raise BackendLoadError(f"the backend process died ({child.exit_status()}) while loading") from None
        finally:
            with self._cond:
                self._starting.remove(child)
        if reply[0] == "failed":
            child.stop()
            child.close()
            raise reply[1].rebuild()
        return reply[1]

    def _acquire(self) -> _Child:
        with self._cond:
            while True:
                if self._stopping.is_set():
                    raise ModelUnavailableError(f"model '{self._model}' is unloading")
                if self._idle:
                    child = self._idle.pop()
                    child.busy = True
                    return child
                if not any(self._slots):
                    if not self._slots:
                        raise BackendError("isolated backend used before load() or after unload()")
                    raise ModelUnavailableError(f"model '{self._model}' {self._down_reason}")
                self._cond.wait()

    def _release(self, child: _Child, dead: bool) -> None:
        with self._cond:
            child.busy = False
            child.alive = child.alive and not dead
            if child.alive and self._holds(child):
                self._idle.append(child)
                self._cond.notify()
            elif not child.alive:
                child.close()

    def _holds(self, child: _Child) -> bool:
        return child.slot < len(self._slots) and self._slots[child.slot] is child

    def _died(self, child: _Child) -> SwitchyardError:
        how = child.exit_status()
        if self._stopping.is_set():
            return ModelUnavailableError(f"model '{self._model}' was unloaded while the request ran")
        return ModelUnavailableError(f"model '{self._model}' backend process died ({how}); restarting")

    # -- tensors ----------------------------------------------------------------------------

    def _exchange(self, child: _Child, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if child.segment is None:
            self._give_segment(child, self._segment_bytes)
        assert child.segment is not None
        try:
            headers, _ = transport.write(child.segment, inputs)
        except transport.SegmentTooSmall as small:
            self._give_segment(child, self._bigger(child, small.needed))
            headers, _ = transport.write(child.segment, inputs)
        child.conn.send(("infer", headers))
        reply = child.conn.recv()
        if reply[0] == "grow":
            try:
                size = self._bigger(child, reply[1])
            except SwitchyardError:
                child.conn.send(("drop",))
                raise
            self._give_segment(child, size)
            reply = child.conn.recv()
        if reply[0] == "error":
            raise reply[1].rebuild()
        return transport.read(child.segment, reply[1], copy=True)

    def _bigger(self, child: _Child, needed: int) -> int:
        limit = self.policy.max_segment_bytes
        if needed > limit:
            raise SwitchyardError(
                f"model '{self._model}': the request needs {needed / MIB:.1f} MiB of shared memory with its "
                f"backend process, more than its limit of {limit / MIB:.1f} MiB (process.shared_memory_mb)",
                code=ErrorCode.RESOURCE_EXHAUSTED,
            )
        current = child.segment.size if child.segment is not None else 0
        size = min(max(needed, 2 * current), limit)
        self._segment_bytes = max(self._segment_bytes, size)  # a restarted child starts this big
        return size

    def _give_segment(self, child: _Child, size: int) -> None:
        """A new segment for the child: created here, its descriptor sent down the pipe."""
        try:
            segment = transport.Segment.create(size)
        except OSError as exc:
            raise SwitchyardError(
                f"model '{self._model}': cannot reserve {size / MIB:.1f} MiB of shared memory: {exc.strerror}",
                code=ErrorCode.RESOURCE_EXHAUSTED,
            ) from None
        try:
            child.conn.send(("segment", size))
            send_handle(child.conn, segment.fd, child.pid)
        except BaseException:
            segment.close()
            raise
        if child.segment is not None:
            child.segment.close()
        child.segment = segment

    # -- supervision (the monitor thread) ---------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                watched = {c.sentinel: c for c in self._slots if c is not None}
            ended = wait([*watched, self._wake_r])
            if self._stopping.is_set():
                return
            for sentinel in ended:
                if sentinel in watched:
                    self._on_death(watched[sentinel])
            self._restart_missing()

    def _on_death(self, child: _Child) -> None:
        how = child.exit_status()
        self._deaths_in_a_row += 1
        with self._cond:
            child.alive = False
            if self._holds(child):
                self._slots[child.slot] = None
            if child in self._idle:
                self._idle.remove(child)
            if not child.busy:
                child.close()
            self._restarts += 1
            self._down_reason = f"backend process died ({how}); restarting"
            self._cond.notify_all()
        log.warning(
            "model %s version %s: backend process %s died (%s); restarting in %.2gs",
            self._model,
            self._version,
            child.pid,
            how,
            self._next_delay(),
        )
        self._tell(False, self._down_reason)

    def _restart_missing(self) -> None:
        """Start a process in every empty slot, after the backoff; retry (backing off) until all run."""
        while not self._stopping.wait(self.policy.backoff(self._deaths_in_a_row)):
            with self._cond:
                missing = [slot for slot, c in enumerate(self._slots) if c is None]
            if not missing:
                return
            for slot in missing:
                try:
                    child = self._spawn(slot)
                    self._await_loaded(child)
                except Exception as exc:
                    if self._stopping.is_set():
                        return
                    self._deaths_in_a_row += 1
                    self._down_reason = f"backend process failed to restart ({exc}); retrying"
                    log.warning("model %s: %s in %.2gs", self._model, self._down_reason, self._next_delay())
                    self._tell(False, self._down_reason)
                    break
                if not self._install(child):
                    return
                log.info("model %s version %s: backend process back (pid %s)", self._model, self._version, child.pid)
            else:
                self._tell(True, "")
                return

    def _next_delay(self) -> float:
        return self.policy.backoff(self._deaths_in_a_row)

    def _install(self, child: _Child) -> bool:
        """Put a restarted child in its slot; False (and the child stopped) when the model is unloading."""
        with self._cond:
            if not self._stopping.is_set():
                self._slots[child.slot] = child
                self._idle.append(child)
                self._cond.notify()
                return True
        child.stop()
        child.close()
        return False

    def _tell(self, ready: bool, reason: str) -> None:
        for watcher in self._watchers:
            try:
                watcher(ready, reason)
            except Exception:
                log.exception("a watcher of model %s failed", self._model)
