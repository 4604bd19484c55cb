"""`switchyard serve --workers N`: N server processes sharing one port with SO_REUSEPORT.

One Python process is held to about one core by its event loop and the GIL; the kernel
spreads new connections over the processes bound to the port, so N workers use N cores.
Each worker loads every model and serves its own health and (on metrics_port + i) its
own metrics. The supervisor forwards SIGTERM/SIGINT, so every worker drains as one server
would, and exits non-zero if any worker did. A worker that dies after start-up is logged
and replaced (with backoff) while the others keep serving the port.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import SecretStr

from service.settings import MAX_WORKERS, ServerSettings

log = logging.getLogger(__name__)


def auto_workers(settings: ServerSettings) -> tuple[int, str]:
    """`--workers auto`: (how many, why). One per usable core of a CPU-only server, read below
    --probe-sysroot: the affinity mask and the cgroup CPU quota (v2 cpu.max, v1 cfs_quota_us),
    rounded down. One when a GPU would take the models: every worker would load its own copy
    into the GPU's memory, and the GPU, not the event loop, is then what bounds throughput."""
    from backends.probe import probe

    # Files only: no runtime is imported and no driver library loaded in the supervisor.
    report = probe(settings.probe_sysroot, runtimes=(), use_libraries=False)
    gpus = [d for d in report.accelerators if d.kind == "gpu" and d.usable]
    return worker_count(report.cpu.usable_cpus, report.cpu.cgroup_quota_cpus, settings.device, bool(gpus))


def worker_count(usable_cpus: float, quota: float | None, device: str, gpu_present: bool) -> tuple[int, str]:
    """The arithmetic of auto_workers, from plain numbers."""
    on_gpu = device.startswith(("gpu", "cuda")) or (device == "auto" and gpu_present)
    if on_gpu:
        return 1, f"1 worker: the models would run on a GPU (--device {device}); give --workers N to override"
    count = max(1, min(int(usable_cpus), MAX_WORKERS))
    limit = f"a cgroup quota of {quota:g} CPUs" if quota is not None and quota <= usable_cpus else "the affinity mask"
    return count, f"{count} worker(s): {usable_cpus:g} usable CPUs ({limit})"


def worker_environment(settings: ServerSettings, index: int) -> dict[str, str]:
    """The environment of worker `index`: the settings as SWITCHYARD_* variables, port shared."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude={"workers", "reuse_port"}).items():
        key = f"SWITCHYARD_{name.upper()}"
        if value is None:
            env.pop(key, None)
        elif isinstance(value, list):
            env[key] = json.dumps(value)
        elif isinstance(value, SecretStr):  # str() would hand the workers its mask
            env[key] = value.get_secret_value()
        else:
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    env["SWITCHYARD_WORKERS"] = "1"
    env["SWITCHYARD_REUSE_PORT"] = "true"
    if settings.metrics_port > 0:
        env["SWITCHYARD_METRICS_PORT"] = str(settings.metrics_port + index)
    return env


RESTART_BACKOFF_S = 0.5  # the first restart of a worker that died; doubles while it keeps dying
RESTART_BACKOFF_MAX_S = 30.0
# How often the supervisor looks at a stop request while it has nothing else to wait for.
_TICK_S = 0.5


def run_workers(settings: ServerSettings, port_file: Path | None = None) -> int:
    """Start the workers, wait until each has loaded its models, then keep them running until
    SIGTERM/SIGINT; the exit code is the largest (by magnitude) of the workers' last."""
    if settings.port == 0:
        raise SystemExit("--workers needs a fixed --port: port 0 would give each worker its own port")
    return WorkerSupervisor(settings).run(port_file)


class WorkerSupervisor:
    """Runs `settings.workers` server processes; one that dies after start-up is logged and
    started again after a backoff (0.5 s doubling to 30 s while it dies before serving)."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        count = int(settings.workers)
        self._workers: list[subprocess.Popen | None] = [None] * count
        self._codes = [0] * count
        self._failures = [0] * count  # deaths since the worker last served
        self._due: dict[int, float] = {}  # worker index -> when to start it again
        # (kind, index, process) from the watcher threads: "ready" once it serves, "exit" when it ends.
        self._events: queue.Queue[tuple[str, int, subprocess.Popen]] = queue.Queue()
        # Set by the signal handler, which runs on this thread between bytecodes: a plain flag, no locks.
        self._stopping = False

    def run(self, port_file: Path | None) -> int:
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        for index in range(len(self._workers)):
            self._start(index)
        if not self._started():
            self._forward(signal.SIGTERM, None)
        else:
            log.info("%d workers serving on %s:%d", len(self._workers), self._settings.host, self._settings.port)
            if port_file:
                port_file.write_text(f"{self._settings.port}\n")
        self._supervise()
        return max(self._codes, key=abs)

    def _start(self, index: int) -> None:
        worker = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port-file", "/dev/stdout"],
            env=worker_environment(self._settings, index),
            stdout=subprocess.PIPE,
            text=True,
        )
        self._workers[index] = worker
        threading.Thread(target=self._watch, args=(index, worker), daemon=True).start()
        if self._stopping:  # the stop request came while it was starting, before _forward could see it
            worker.terminate()

    def _watch(self, index: int, worker: subprocess.Popen) -> None:
        told = False
        for line in worker.stdout or ():  # the port line; runtimes may print other lines
            if not told and line.strip().isdigit():
                told = True
                self._events.put(("ready", index, worker))
        worker.wait()
        self._events.put(("exit", index, worker))

    def _started(self) -> bool:
        """Wait until every worker serves; False when one exits first (a bad setting would only crash again)."""
        waiting = set(range(len(self._workers)))
        while waiting and not self._stopping:
            event = self._next_event()
            if event is None:
                continue
            kind, index, worker = event
            if kind == "ready":
                waiting.discard(index)
            elif kind == "exit":
                self._ended(index, worker)
                log.error("worker %d exited (%s) before serving; stopping the others", index, _how(worker))
                return False
        return not self._stopping

    def _supervise(self) -> None:
        """Restart workers that die, until a stop request and every worker has exited."""
        while any(w is not None for w in self._workers) or (self._due and not self._stopping):
            event = self._next_event()
            if event is None or event[2] is not self._workers[event[1]]:
                continue  # nothing happened, or an event of a worker already replaced
            kind, index, worker = event
            if kind == "ready":
                self._failures[index] = 0
                log.info("worker %d serving again (pid %d)", index, worker.pid)
                continue
            self._ended(index, worker)
            if not self._stopping:
                self._failures[index] += 1
                delay = min(RESTART_BACKOFF_S * 2 ** (self._failures[index] - 1), RESTART_BACKOFF_MAX_S)
                log.warning("worker %d (pid %d) died (%s); restarting in %.1fs", index, worker.pid, _how(worker), delay)
                self._due[index] = time.monotonic() + delay

    def _next_event(self) -> tuple[str, int, subprocess.Popen] | None:
        """The next watcher event (None: a stop request with nothing left to wait for); meanwhile
        start the workers whose restart is due."""
        while True:
            if self._stopping:
                self._due.clear()
            now = time.monotonic()
            for index in [i for i, when in self._due.items() if when <= now]:
                del self._due[index]
                self._start(index)
            wait = min([_TICK_S, *(when - now for when in self._due.values())])
            try:
                return self._events.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if self._stopping and not self._due:
                    return None

    def _ended(self, index: int, worker: subprocess.Popen) -> None:
        self._workers[index] = None
        self._codes[index] = worker.returncode or 0

    def _forward(self, signum: int, _frame: object) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signum)


def _how(worker: subprocess.Popen) -> str:
    code = worker.returncode
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
