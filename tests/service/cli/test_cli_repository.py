"""`switchyard load / unload / index` against a real server that allows the repository RPCs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import serving, write_model
from tests.fixtures.models import tiny_cnn
from tests.service.cli.conftest import switchyard


@pytest.fixture(scope="module")
def admin(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    repo = tmp_path_factory.mktemp("admin_repository")
    write_model(repo, "tiny_cnn", tiny_cnn(), "backend: onnxruntime\n")
    with serving(sys.executable, repo, "--allow-repository-admin") as (_, address):
        yield address, repo


def index(address: str) -> dict[str, str]:
    result = switchyard("index", "--json", "-t", address)
    assert result.returncode == 0, result.stderr
    return {row["model"]: row["state"] for row in json.loads(result.stdout)}


def test_unload_then_load_round_trips_a_model(admin) -> None:
    address, _ = admin
    assert index(address) == {"tiny_cnn": "READY"}
    result = switchyard("unload", "tiny_cnn", "--json", "-t", address)
    assert result.returncode == 0 and json.loads(result.stdout) == {"model": "tiny_cnn", "unloaded": True}
    assert index(address) == {"tiny_cnn": "UNAVAILABLE"}  # on disk, not loaded
    result = switchyard("load", "tiny_cnn", "--target", address)
    assert result.returncode == 0 and result.stdout.strip() == "model tiny_cnn loaded"
    assert index(address) == {"tiny_cnn": "READY"}


def test_a_refused_reload_is_one_line_and_the_model_keeps_serving(admin) -> None:
    address, repo = admin
    config = repo / "tiny_cnn" / "config.yaml"
    config.write_text("backend: onnxruntime\nbatching: yes\n")
    try:
        result = switchyard("load", "tiny_cnn", "-t", address)
    finally:
        config.write_text("backend: onnxruntime\n")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "keeps serving" in lines[0] and "batching" in lines[0], result.stderr
    assert index(address) == {"tiny_cnn": "READY"}


def test_without_admin_the_commands_say_how_to_enable_them(address) -> None:
    result = switchyard("unload", "add", "-t", address)
    assert result.returncode != 0
    assert "--allow-repository-admin" in result.stderr and len(result.stderr.strip().splitlines()) == 1
