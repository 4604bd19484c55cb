"""Every mistake a user can make with `switchyard` is one line on stderr and a non-zero exit.

Each case runs the command as a user does (`python -m service ...`, a process of its own) and
checks: exit code != 0, stderr is exactly one line starting "error:", no traceback, nothing on
stdout, and the line names the thing that was wrong.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.service.cli.conftest import switchyard


@pytest.fixture(scope="module")
def busy() -> Iterator[int]:
    """A port another program is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


# (arguments, environment, words the error line must contain); {name} is a fixture's value.
MISTAKES = {
    "server-down": (["models", "-t", "127.0.0.1:1"], {}, ["127.0.0.1:1", "connection refused"]),
    "server-down-predict": (
        ["predict", "add", "-t", "127.0.0.1:1", "-i", "a={files}/a.npy"],
        {},
        ["127.0.0.1:1", "connection refused"],
    ),
    "unknown-model-predict": (
        ["predict", "nope", "-t", "{address}", "-i", "a={files}/a.npy", "-i", "b={files}/a.npy"],
        {},
        ["NOT_FOUND", "'nope'"],
    ),
    "unknown-model-models": (["models", "nope", "-t", "{address}"], {}, ["NOT_FOUND", "'nope'"]),
    "unknown-model-bench": (["bench", "nope", "-t", "{address}", "--requests", "1"], {}, ["NOT_FOUND", "'nope'"]),
    "missing-input-file": (["predict", "add", "-i", "a={files}/missing.npy"], {}, ["missing.npy", "does not exist"]),
    "input-not-npy": (["predict", "add", "-i", "a={files}/notes.txt"], {}, ["notes.txt", ".npy"]),
    "input-without-name": (["predict", "add", "-i", "{files}/a.npy"], {}, ["--input", "NAME=FILE.npy"]),
    "missing-model-argument": (["predict"], {}, ["MODEL"]),
    "unknown-command": (["frobnicate"], {}, ["frobnicate"]),
    "unknown-option": (["models", "--colour"], {}, ["--colour"]),
    "target-without-port": (["models", "-t", "localhost"], {}, ["--target", "HOST:PORT", "localhost"]),
    "bad-target-env": (["models"], {"SWITCHYARD_TARGET": "nowhere"}, ["SWITCHYARD_TARGET", "nowhere"]),
    "bad-flag-value": (["serve", "--port", "abc"], {}, ["--port", "integer"]),
    "port-out-of-range": (["serve", "--port", "70000"], {}, ["--port", "70000"]),
    "bad-port-env": (["serve"], {"SWITCHYARD_PORT": "abc"}, ["SWITCHYARD_PORT", "'abc'"]),
    "bad-log-level-env": (["serve"], {"SWITCHYARD_LOG_LEVEL": "loud"}, ["SWITCHYARD_LOG_LEVEL", "'loud'", "debug"]),
    "models-env-not-json": (["serve"], {"SWITCHYARD_MODELS": "add"}, ["SWITCHYARD_MODELS", "JSON"]),
    "port-in-use": (
        ["serve", "--host", "127.0.0.1", "--port", "{busy}", "--model-repository", "{repo}"],
        {},
        ["port {busy}", "already in use", "--port"],
    ),
    "missing-repository": (
        ["serve", "--model-repository", "{files}/nowhere"],
        {},
        ["nowhere", "does not exist", "--model-repository"],
    ),
    "unknown-serve-model": (
        ["serve", "--model-repository", "{repo}", "--model", "nope"],
        {},
        ["'nope'", "(it has add, tiny_cnn)"],
    ),
    "workers-on-port-0": (["serve", "--model-repository", "{repo}", "--workers", "2", "--port", "0"], {}, ["--port"]),
    "missing-video-source": (["stream", "add", "{files}/missing.mp4"], {}, ["missing.mp4", "does not exist"]),
    "unreadable-video-source": (["stream", "add", "{files}/notes.txt"], {}, ["notes.txt", "invalid data"]),
    "bad-bench-concurrency": (["bench", "add", "-c", "1,x"], {}, ["--concurrency", "1,x"]),
    "bad-bench-dtype": (["bench", "add", "--dtype", "floaty"], {}, ["--dtype", "floaty"]),
    "bad-bench-mode": (["bench", "add", "--mode", "fast"], {}, ["--mode", "fast"]),
}


@pytest.fixture(scope="module")
def outcomes(address, files, repo, busy) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    """Every case's run, four processes at a time: each is a cold start of the CLI, mostly imports."""
    values = {"address": address, "files": files, "repo": repo, "busy": busy}

    def run(case: tuple[list[str], dict, list[str]]) -> subprocess.CompletedProcess:
        args, env, _ = case
        return switchyard(*(a.format(**values) for a in args), env=env)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {name: (result, values) for name, result in zip(MISTAKES, pool.map(run, MISTAKES.values()), strict=True)}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_mistake_is_one_line_on_stderr(outcomes, case) -> None:
    result, values = outcomes[case]
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in MISTAKES[case][2]:
        assert word.format(**values) in lines[0]


def test_debug_adds_the_traceback() -> None:
    result = switchyard("--debug", "models", "-t", "127.0.0.1:1")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == "error: cannot reach the server at 127.0.0.1:1 (connection refused)"
