"""`switchyard serve` in its own process for a benchmark: 127.0.0.1, any free port.

The server writes its port to a file once every model is loaded; until then the benchmark
checks the file (and that the server is still alive) five times a second.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve_command(python: str, repository: Path, port_file: Path | str, *extra: str) -> list[str]:
    """`switchyard serve` on 127.0.0.1, a free port written to `port_file` once models are loaded."""
    return [
        python,
        "-m",
        "service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "-1",
        # Off unless asked for (a later --http-port wins): the default 8000 is one port for every server here.
        "--http-port",
        "-1",
        "--model-repository",
        str(repository),
        "--port-file",
        str(port_file),
        *extra,
    ]


def start_server(
    repository: Path,
    port_file: Path,
    cpu: str | None = None,
    timeout: float = 120,
    extra: Sequence[str] = (),
    cwd: Path = ROOT,
) -> tuple[subprocess.Popen, int]:
    """(the server process, its port); `cpu` pins it with taskset (e.g. "0"); `extra`: more serve flags;
    `cwd`: the source tree whose `python -m service` runs (another checkout, to compare)."""
    command = serve_command(sys.executable, repository, port_file, "--log-level", "warning", *extra)
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    process = subprocess.Popen(command, cwd=cwd, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the server did not start within {timeout:g} s (exit code {process.poll()})")
        time.sleep(0.2)
    return process, int(port_file.read_text())


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(30)
