"""The CLI as a user runs it: `python -m service ...` in a process of its own, and a real server to talk to."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, serving, write_model
from tests.fixtures.models import add_model, tiny_cnn


def switchyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # Settings from the test runner's environment must not leak into the cases.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**clean, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture(scope="package")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("repository")
    write_model(repo, "add", add_model(), "backend: onnxruntime\n")
    write_model(repo, "tiny_cnn", tiny_cnn(), "backend: onnxruntime\n")
    return repo


@pytest.fixture(scope="package")
def address(repo) -> Iterator[str]:
    """A real `switchyard serve` on 127.0.0.1:0, ready once it has written its port."""
    with serving(sys.executable, repo) as (_, address):
        yield address


@pytest.fixture(scope="package")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("files")
    np.save(folder / "a.npy", np.ones((1, 4), np.float32))
    (folder / "notes.txt").write_text("not an array, not a video\n")
    return folder
