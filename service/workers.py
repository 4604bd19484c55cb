"""`switchyard serve --workers N`: N server processes sharing one port with SO_REUSEPORT.

One Python process is held to about one core by its event loop and the GIL; the kernel
spreads new connections over the processes bound to the port, so N workers use N cores.
Each worker loads every model and serves its own health and (on metrics_port + i) its
own metrics. The supervisor forwards SIGTERM/SIGINT, so every worker drains as one server
would, and exits non-zero if any worker did.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from service.settings import ServerSettings

log = logging.getLogger(__name__)


def worker_environment(settings: ServerSettings, index: int) -> dict[str, str]:
    """The environment of worker `index`: the settings as SWITCHYARD_* variables, port shared."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude={"workers", "reuse_port"}).items():
        key = f"SWITCHYARD_{name.upper()}"
        if value is None:
            env.pop(key, None)
        elif isinstance(value, list):
            env[key] = json.dumps(value)
        else:
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    env["SWITCHYARD_WORKERS"] = "1"
    env["SWITCHYARD_REUSE_PORT"] = "true"
    if settings.metrics_port > 0:
        env["SWITCHYARD_METRICS_PORT"] = str(settings.metrics_port + index)
    return env


def run_workers(settings: ServerSettings, port_file: Path | None = None) -> int:
    """Start the workers, wait until each has loaded its models, then until all exit."""
    if settings.port == 0:
        raise SystemExit("--workers needs a fixed --port: port 0 would give each worker its own port")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port-file", "/dev/stdout"],
            env=worker_environment(settings, i),
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(settings.workers)
    ]

    def forward(signum, _frame) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ready = threading.Barrier(len(workers) + 1)

    def watch(worker: subprocess.Popen) -> None:
        told = False
        for line in worker.stdout or ():  # the port line; runtimes may print other lines
            if not told and line.strip().isdigit():
                told = True
                ready.wait()
        if not told:
            ready.abort()

    for worker in workers:
        threading.Thread(target=watch, args=(worker,), daemon=True).start()
    try:
        ready.wait()
        log.info("%d workers serving on %s:%d", len(workers), settings.host, settings.port)
        if port_file:
            port_file.write_text(f"{settings.port}\n")
    except threading.BrokenBarrierError:
        log.error("a worker exited before serving; stopping the others")
        forward(signal.SIGTERM, None)
    codes = [worker.wait() for worker in workers]
    return max(codes, key=abs)
