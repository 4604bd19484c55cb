"""A swap loads a second copy of the model: refused, with the old version serving, when memory is short."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from backends.base import Device
from service.repository.entries import ModelState
from service.repository.headroom import LOAD_FACTOR, artifact_bytes, available_bytes
from service.repository.loader import ModelLoader
from service.repository.repository import ModelRepository
from service.scheduling.runner import InferRequest
from service.settings import ServerSettings
from tests.conftest import write_model
from tests.fixtures import models

GIB = 1 << 30


def system(root: Path, available_kib: int, cgroup: tuple[str, str] | None = None) -> Path:
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal: 25165824 kB\nMemAvailable: {available_kib} kB\n")
    if cgroup is not None:
        (root / "sys" / "fs" / "cgroup").mkdir(parents=True, exist_ok=True)
        (root / "sys" / "fs" / "cgroup" / "memory.max").write_text(cgroup[0] + "\n")
        (root / "sys" / "fs" / "cgroup" / "memory.current").write_text(cgroup[1] + "\n")
    return root


def test_the_host_reports_the_least_of_meminfo_and_the_containers_cgroup(tmp_path: Path) -> None:
    cpu = Device("cpu")
    assert available_bytes(cpu, system(tmp_path / "a", 8 * 1024 * 1024)) == 8 * GIB
    # A container limited to 4 GiB that uses 3 has 1 GiB, whatever the host has free.
    assert available_bytes(cpu, system(tmp_path / "b", 8 * 1024 * 1024, (str(4 * GIB), str(3 * GIB)))) == GIB
    assert available_bytes(cpu, system(tmp_path / "c", 8 * 1024 * 1024, ("max", str(3 * GIB)))) == 8 * GIB
    assert available_bytes(cpu, tmp_path / "nothing") is None
    assert available_bytes(Device("gpu", 0, "nvidia"), system(tmp_path / "d", 1)) is None  # not reported here


def test_a_limit_on_the_processs_own_nested_cgroup_is_seen(tmp_path: Path) -> None:
    # A pod's limit sits on its cgroup below the mount (no namespace of its own), not at the root.
    root = system(tmp_path / "v2", 8 * 1024 * 1024)
    (root / "proc" / "self").mkdir()
    (root / "proc" / "self" / "cgroup").write_text("0::/kubepods/pod1/ctr\n")
    pod = root / "sys" / "fs" / "cgroup" / "kubepods" / "pod1"
    (pod / "ctr").mkdir(parents=True)
    (pod / "memory.max").write_text(f"{4 * GIB}\n")
    (pod / "memory.current").write_text(f"{3 * GIB}\n")
    (pod / "ctr" / "memory.max").write_text("max\n")
    (pod / "ctr" / "memory.current").write_text(f"{3 * GIB}\n")
    assert available_bytes(Device("cpu"), root) == GIB
    # cgroup v1, with the page-rounded "unlimited" at the mount root skipped.
    root = system(tmp_path / "v1", 8 * 1024 * 1024)
    (root / "proc" / "self").mkdir()
    (root / "proc" / "self" / "cgroup").write_text("4:memory:/docker/abc\n")
    memory = root / "sys" / "fs" / "cgroup" / "memory"
    (memory / "docker" / "abc").mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (memory / "memory.usage_in_bytes").write_text(f"{5 * GIB}\n")
    (memory / "docker" / "abc" / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")
    (memory / "docker" / "abc" / "memory.usage_in_bytes").write_text(f"{GIB + GIB // 2}\n")
    assert available_bytes(Device("cpu"), root) == GIB // 2


@pytest.fixture
async def repository(tmp_path: Path) -> AsyncIterator[tuple[ModelRepository, Path, Path]]:
    root = tmp_path / "models"
    write_model(root, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    sysroot = system(tmp_path / "sysroot", 8 * 1024 * 1024)
    settings = ServerSettings(model_repository=root, probe_sysroot=sysroot, metrics_port=-1)
    made = ModelRepository(root, ModelLoader(settings))
    yield made, root, sysroot
    await made.close()


async def test_a_swap_without_room_for_a_second_copy_is_refused_and_the_old_version_serves(repository) -> None:
    repository, root, sysroot = repository
    before = await repository.load("tiny_cnn")
    write_model(root, "tiny_cnn", models.tiny_cnn(classes=4), "backend: onnxruntime\n", version=2)
    needed = artifact_bytes(root / "tiny_cnn", [2]) * LOAD_FACTOR
    system(sysroot, int(needed // 1024) - 1)  # one KiB short
    assert await repository.load("tiny_cnn") is before
    assert before.last_reload_error.startswith("not enough memory to load the new version beside the serving one")
    assert "reload: replace" in before.last_reload_error and repository.reload_failures == {"tiny_cnn": 1}
    outputs = await repository.get("tiny_cnn").ready_runner.infer(
        InferRequest({"input": np.zeros((1, 3, 64, 64), np.float32)})
    )
    assert outputs["logits"].shape == (1, 10)
    # Room again (memory was freed): the next reload swaps.
    system(sysroot, int(needed // 1024) + 1024)
    after = await repository.load("tiny_cnn")
    assert after is not before and sorted(after.versions) == [2] and after.last_reload_error == ""


async def test_reload_replace_needs_no_room_for_two(repository) -> None:
    repository, root, sysroot = repository
    await repository.load("tiny_cnn")
    write_model(root, "tiny_cnn", models.tiny_cnn(classes=4), "backend: onnxruntime\nreload: replace\n", version=2)
    system(sysroot, 1)
    after = await repository.load("tiny_cnn")
    assert after.versions[2].state is ModelState.READY and repository.reload_failures == {}


async def test_the_memory_factor_is_a_setting_and_zero_turns_the_check_off(tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_model(root, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    sysroot = system(tmp_path / "sysroot", 8 * 1024 * 1024)
    settings = ServerSettings(model_repository=root, probe_sysroot=sysroot, metrics_port=-1)
    for factor, swaps in ((8.0, False), (0.0, True)):
        repository = ModelRepository(root, ModelLoader(settings), memory_factor=factor)
        try:
            before = await repository.load("tiny_cnn")
            write_model(root, "tiny_cnn", models.tiny_cnn(classes=4), "backend: onnxruntime\n", version=2)
            # Room for 4 copies of the new files: not the 8 asked for, and no check at all with 0.
            system(sysroot, int(artifact_bytes(root / "tiny_cnn", [2]) * 4 // 1024))
            after = await repository.load("tiny_cnn")
            assert (after is not before) is swaps
            assert ("8x its files" in before.last_reload_error) is not swaps
        finally:
            await repository.close()
            shutil.rmtree(root / "tiny_cnn" / "2")
