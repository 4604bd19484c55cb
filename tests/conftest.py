"""Shared test fixtures: a model repository built in tmp, and a real server on 127.0.0.1:0."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto

from benchmarks.server import serve_command
from tests.fixtures import models

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPOSITORY = ROOT / "model_repository"
TEXT_DETECTION = DEFAULT_REPOSITORY / "text_detection" / "1" / "model.onnx"


def write_model(repository: Path, name: str, model: onnx.ModelProto | None, config: str, version: int = 1) -> Path:
    folder = repository / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(config)
    if model is not None:
        onnx.save(model, folder / str(version) / "model.onnx")
    return folder


def free_port() -> int:
    """A loopback port free at the time of asking, for a server flag that takes a port number."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_text_detection() -> Path:
    if not TEXT_DETECTION.is_file():
        pytest.skip("the PP-OCRv4 model is not fetched: run `python scripts/fetch_models.py` (the test command does)")
    return TEXT_DETECTION


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory) -> Path:
    """A repository with tiny models of several datatypes, a slow one and a broken one."""
    repo = tmp_path_factory.mktemp("repository")
    write_model(repo, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    write_model(repo, "add", models.add_model(), "backend: onnxruntime\n")
    write_model(repo, "add_ov", models.add_model(), "backend: openvino\nopenvino: {precision_hint: f32}\n")
    for name, dtype in {
        "identity_int64": TensorProto.INT64,
        "identity_fp16": TensorProto.FLOAT16,
        "identity_bool": TensorProto.BOOL,
        "identity_uint8": TensorProto.UINT8,
        "identity_string": TensorProto.STRING,
        "identity_fp64": TensorProto.DOUBLE,
        "identity_int8": TensorProto.INT8,
    }.items():
        write_model(repo, name, models.identity_model(dtype, name), "backend: onnxruntime\n")
    write_model(repo, "slow", models.slow_model(), "backend: onnxruntime\n")
    # Broken in two different ways: a config with an unknown key, and a corrupt artifact.
    write_model(repo, "bad_config", models.add_model(), "backend: onnxruntime\nbatching: yes\n")
    broken = write_model(repo, "corrupt", None, "backend: onnxruntime\n")
    (broken / "1" / "model.onnx").write_bytes(b"this is not an onnx model")
    # Two versions; the default policy serves the latest only, this one serves both.
    write_model(repo, "versioned", models.add_model(), "version_policy: {all: true}\n", version=1)
    write_model(repo, "versioned", models.add_model(), "version_policy: {all: true}\n", version=2)
    if TEXT_DETECTION.is_file():
        target = repo / "text_detection" / "1"
        target.mkdir(parents=True)
        shutil.copyfile(DEFAULT_REPOSITORY / "text_detection" / "config.yaml", repo / "text_detection" / "config.yaml")
        os.symlink(TEXT_DETECTION, target / "model.onnx")
        ov = repo / "text_detection_ov" / "1"
        ov.mkdir(parents=True)
        (repo / "text_detection_ov" / "config.yaml").write_text("backend: openvino\nopenvino: {precision_hint: f32}\n")
        os.symlink(TEXT_DETECTION, ov / "model.onnx")
    return repo


@contextlib.contextmanager
def serving(python: str, repo: Path, *extra: str, **kwargs) -> Iterator[tuple[subprocess.Popen, str]]:
    """start_serve_process as a context: yields (process, address), stops the server on the way out."""
    proc, address = start_serve_process(python, repo, *extra, **kwargs)
    try:
        yield proc, address
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)
        proc.stdout.close()


def start_serve_process(python: str, repo: Path, *extra: str, env: dict[str, str] | None = None, stderr=None):
    """Run `switchyard serve` in its own process on 127.0.0.1:0; returns (process, address).

    env: extra environment variables; stderr: a file (opened for writing) that keeps the log.

    The server writes its port on stdout once every model is loaded (--port-file); runtimes
    may print their own lines there too, so the first all-digit line is the port.
    """
    import subprocess
    import tempfile

    log = stderr if stderr is not None else tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        serve_command(python, repo, "/dev/stdout", *extra),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env} if env else None,
    )
    for line in proc.stdout:
        if line.strip().isdigit():
            if stderr is None:
                log.close()  # the server keeps its own descriptor; the log is read only when start-up fails
            return proc, f"127.0.0.1:{line.strip()}"
    proc.wait(timeout=30)
    log.seek(0)
    pytest.fail(f"the server exited with {proc.returncode} before serving: {log.read()[-4000:]}")
