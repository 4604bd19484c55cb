"""Process isolation: a model's backend runs in child processes, so a runtime crash takes down
only that model, which then restarts.

IsolatedBackend is the server-side half. It implements the Backend interface, so the
ModelRunner's executor threads drive it exactly as they drive an inline backend (batching
unchanged); each of the model's instances gets its own child process (backend_process: a
fresh interpreter, never a fork of the server's gRPC threads) with its own shared-memory
segment (tensor_transport). When a child dies, by signal or exit:

- the request running on it fails with ModelUnavailableError naming the signal,
- one warning is logged and the restart counter goes up,
- watchers (the repository) hear (False, reason), so the version shows UNAVAILABLE with why,
- the child is restarted after a delay that doubles per death without a success in between,
  up to a bound, and watchers hear (True, "") once every instance is back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

from backends.base import Device, ModelSignature
from backends.options import BackendOptions
from protos.datatypes import numpy_dtype
from protos.errors import BackendError, ErrorCode, ModelUnavailableError, SwitchyardError
from service.scheduling import tensor_transport as transport
from service.scheduling.backend_process import MIB, BackendProcess

log = logging.getLogger(__name__)

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


class IsolatedBackend:
    """A Backend whose runtime (`runtime`, a registry name) runs in child processes."""

    def __init__(self, runtime: str, model: str, version: str = "", policy: IsolationPolicy | None = None) -> None:
        self.name = runtime
        self._runtime = runtime
        self._model = model
        self._version = version
        self.policy = policy or IsolationPolicy()
        self._cond = threading.Condition()
        self._slots: list[BackendProcess | None] = []
        self._idle: list[BackendProcess] = []
        self._starting: list[BackendProcess] = []
        self._load_args: tuple[Path, BackendOptions, Device] | None = None
        self._segment_bytes = self.policy.min_segment_bytes
        self._watchers: list[Watcher] = []
        self._down_reason = ""
        self._deaths_in_a_row = 0
        self._restarts = 0
        self._stopping = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe that wakes the monitor thread to stop
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
                child.stop(grace=0)
                child.close()
            raise
        signature = signatures[0]
        wanted = segment_estimate(signature, self.policy.max_batch_size)
        self._segment_bytes = min(max(wanted, self.policy.min_segment_bytes), self.policy.max_segment_bytes)
        with self._cond:
            self._slots = list(children)
            self._idle = list(children)
        self._wake = os.pipe()
        self._monitor = threading.Thread(target=self._watch, name=f"isolation-{self._model}", daemon=True)
        self._monitor.start()
        return signature

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        child = self._acquire()
        dead = False
        try:
            outputs = child.exchange(inputs, self._segment_bytes, self._bigger)
        except (EOFError, ConnectionError) as exc:  # the pipe closed under us: the process is gone
            dead = True
            raise self._died(child) from exc
        finally:
            self._release(child, dead)
        self._deaths_in_a_row = 0
        return outputs

    def unload(self) -> None:
        self._stopping.set()
        if self._wake is not None:
            os.write(self._wake[1], b"x")
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
        if self._wake is not None:
            os.close(self._wake[0])
            os.close(self._wake[1])
            self._wake = None

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, slot: int) -> BackendProcess:
        assert self._load_args is not None
        child = BackendProcess.start(slot, self._model, (self._runtime, *self._load_args))
        with self._cond:
            self._starting.append(child)
        return child

    def _await_loaded(self, child: BackendProcess) -> ModelSignature:
        try:
            return child.await_loaded(self.policy.load_timeout_s)
        finally:
            with self._cond:
                self._starting.remove(child)

    def _acquire(self) -> BackendProcess:
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

    def _release(self, child: BackendProcess, dead: bool) -> None:
        with self._cond:
            child.busy = False
            child.alive = child.alive and not dead
            if child.alive and self._holds(child):
                self._idle.append(child)
                self._cond.notify()
            elif not child.alive:
                child.close()

    def _holds(self, child: BackendProcess) -> bool:
        return child.slot < len(self._slots) and self._slots[child.slot] is child

    def _died(self, child: BackendProcess) -> SwitchyardError:
        how = child.exit_status()
        if self._stopping.is_set():
            return ModelUnavailableError(f"model '{self._model}' was unloaded while the request ran")
        return ModelUnavailableError(f"model '{self._model}' backend process died ({how}); restarting")

    def _bigger(self, needed: int, current: int) -> int:
        """The size a segment grows to for `needed` bytes: at least double, within the limit."""
        limit = self.policy.max_segment_bytes
        if needed > limit:
            raise SwitchyardError(
                f"model '{self._model}': the request needs {needed / MIB:.1f} MiB of shared memory with its "
                f"backend process, more than its limit of {limit / MIB:.1f} MiB (process.shared_memory_mb)",
                code=ErrorCode.RESOURCE_EXHAUSTED,
            )
        size = min(max(needed, 2 * current), limit)
        self._segment_bytes = max(self._segment_bytes, size)  # a restarted process starts this big
        return size

    # -- supervision (the monitor thread) ---------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                watched = {c.sentinel: c for c in self._slots if c is not None}
            assert self._wake is not None
            ended = wait([*watched, self._wake[0]])
            if self._stopping.is_set():
                return
            for sentinel in ended:
                if sentinel in watched:
                    self._on_death(watched[sentinel])
            self._restart_missing()

    def _on_death(self, child: BackendProcess) -> None:
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
        """Start a process in every empty slot after the backoff; retry, backing off, until all run."""
        while True:
            with self._cond:
                missing = [slot for slot, c in enumerate(self._slots) if c is None]
            if not missing:
                self._tell(True, "")
                return
            if self._stopping.wait(self._next_delay()):
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

    def _next_delay(self) -> float:
        return self.policy.backoff(self._deaths_in_a_row)

    def _install(self, child: BackendProcess) -> bool:
        """Put a restarted child in its slot; False (and the child stopped) when the model is unloading."""
        with self._cond:
            if not self._stopping.is_set():
                self._slots[child.slot] = child
                self._idle.append(child)
                self._cond.notify()
                return True
        child.stop(grace=0)
        child.close()
        return False

    def _tell(self, ready: bool, reason: str) -> None:
        for watcher in self._watchers:
            try:
                watcher(ready, reason)
            except Exception:
                log.exception("a watcher of model %s failed", self._model)
