"""The poller's fingerprints: by content, and an artifact is read again only when its size or mtime changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from service.repository.watcher import Fingerprints, RepositoryWatcher
from tests.conftest import write_model
from tests.fixtures import models


def test_a_file_is_hashed_again_only_when_its_size_or_mtime_changed(tmp_path: Path) -> None:
    write_model(tmp_path, "tiny_cnn", models.tiny_cnn(), "")
    artifact = tmp_path / "tiny_cnn" / "1" / "model.onnx"
    prints = Fingerprints()
    first = prints.snapshot(tmp_path).models["tiny_cnn"]
    # Same size and mtime, other bytes: not read again, so not noticed (what keeps polls cheap).
    stat = artifact.stat()
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0xFF
    artifact.write_bytes(bytes(data))
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert prints.snapshot(tmp_path).models["tiny_cnn"] == first
    # A new mtime makes it read again: now the content differs.
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = prints.snapshot(tmp_path).models["tiny_cnn"]
    assert changed != first
    # Touched without a change of content: same fingerprint.
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
    assert prints.snapshot(tmp_path).models["tiny_cnn"] == changed


async def test_a_poll_loads_new_models_skips_unconfigured_folders_and_unloads_removed_ones(
    tmp_path: Path, make_repository
) -> None:
    write_model(tmp_path, "tiny_cnn", models.tiny_cnn(), "")
    repository = make_repository(tmp_path)
    watcher = RepositoryWatcher(repository, interval=3600)
    await watcher.baseline()
    await repository.load_all()
    assert await watcher.poll() == []
    write_model(tmp_path, "second", models.tiny_cnn(classes=2), "")
    (tmp_path / "being_copied" / "1").mkdir(parents=True)  # no config.yaml yet: not a model to load
    assert await watcher.poll() == ["second"]
    assert repository.names() == ["second", "tiny_cnn"]
    (tmp_path / "second" / "config.yaml").unlink()  # the folder is still there (being rewritten): kept
    assert await watcher.poll() == []
    assert repository.names() == ["second", "tiny_cnn"]
    shutil.rmtree(tmp_path / "second")
    assert await watcher.poll() == ["second"]
    assert repository.names() == ["tiny_cnn"]


def test_a_file_still_being_synced_is_not_part_of_the_model(tmp_path: Path) -> None:
    write_model(tmp_path, "tiny_cnn", models.tiny_cnn(), "")
    prints = Fingerprints()
    first = prints.snapshot(tmp_path).models["tiny_cnn"]
    partial = tmp_path / "tiny_cnn" / "1" / "model.onnx.a1b2c3d4.partial"
    partial.write_bytes(b"the first half of a new artifact")
    assert prints.snapshot(tmp_path).models["tiny_cnn"] == first
    partial.replace(tmp_path / "tiny_cnn" / "1" / "model.onnx")  # the sync tool renames it when complete
    assert prints.snapshot(tmp_path).models["tiny_cnn"] != first
