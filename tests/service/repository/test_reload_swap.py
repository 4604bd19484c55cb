"""Warmup before READY, and reloads that load beside the serving version and keep it when they fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protos.errors import ModelNotFoundError, ModelUnavailableError
from service.metrics import RepositoryCollector
from service.repository.config import ConfigError, load_model_config
from service.repository.entries import ModelState
from service.repository.summary import COLUMNS, summary_rows
from service.scheduling.runner import InferRequest
from tests.conftest import write_model
from tests.fixtures import models

IMAGE = np.zeros((1, 3, 64, 64), np.float32)


def samples(repository, name: str) -> list[float]:
    families = RepositoryCollector(repository).collect()
    return [s.value for family in families for s in family.samples if s.name == name]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    return root


def test_warmup_npy_paths_stay_inside_the_model_folder(tmp_path: Path) -> None:
    for source in ("../other/x.npy", "/etc/x.npy", "data.bin"):
        (tmp_path / "config.yaml").write_text(f"warmup: [{{inputs: {{input: '{source}'}}}}]\n")
        with pytest.raises(ConfigError, match="warmup.0.inputs"):
            load_model_config(tmp_path / "config.yaml")
    (tmp_path / "config.yaml").write_text("warmup: [{batch_size: 2, inputs: {input: zeros}, count: 3, bogus: 1}]\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_model_config(tmp_path / "config.yaml")


async def test_a_version_is_ready_after_its_warmup_ran_through_the_runner(root: Path, make_repository) -> None:
    np.save(root / "tiny_cnn" / "sample.npy", np.ones((3, 64, 64), np.float32))
    (root / "tiny_cnn" / "config.yaml").write_text(
        "backend: onnxruntime\nmax_batch_size: 8\n"
        "warmup: [{batch_size: 1, count: 3}, {batch_size: 4, inputs: {input: sample.npy}, count: 2}]\n"
    )
    repository = make_repository(root)
    entry = await repository.load("tiny_cnn")
    version = entry.versions[1]
    assert version.state is ModelState.READY
    assert version.warmup_seconds is not None and version.warmup_seconds > 0
    stats = version.ready_runner.stats
    assert stats.success_count == 5 and stats.inference_count == 3 + 8
    [row] = summary_rows([entry])
    assert float(row.cells()[COLUMNS.index("warmup s")]) == pytest.approx(version.warmup_seconds, abs=0.01)
    assert row.record()["warmup_seconds"] == version.warmup_seconds and "last_reload_error" not in row.record()
    assert samples(repository, "switchyard_model_warmup_duration_seconds") == [version.warmup_seconds]


async def test_a_failed_warmup_leaves_the_version_unavailable_with_the_reason(root: Path, make_repository) -> None:
    np.save(root / "tiny_cnn" / "wrong.npy", np.ones((2, 2), np.float32))
    (root / "tiny_cnn" / "config.yaml").write_text("backend: onnxruntime\nwarmup: [{inputs: {input: wrong.npy}}]\n")
    repository = make_repository(root)
    entry = await repository.load("tiny_cnn")
    assert entry.versions[1].state is ModelState.UNAVAILABLE
    assert entry.versions[1].reason.startswith("warmup at batch size 1 failed:")
    with pytest.raises(ModelUnavailableError, match="warmup"):
        repository.get("tiny_cnn")


@pytest.mark.parametrize(
    "breakage",
    ["config", "artifact", "warmup"],
)
async def test_a_failed_reload_keeps_the_old_version_serving(root: Path, make_repository, breakage: str) -> None:
    repository = make_repository(root)
    before = await repository.load("tiny_cnn")
    folder = root / "tiny_cnn"
    if breakage == "config":
        (folder / "config.yaml").write_text("backend: onnxruntime\nbatching: yes\n")
    elif breakage == "artifact":
        (folder / "1" / "model.onnx").write_bytes(b"not onnx")
    else:
        (folder / "config.yaml").write_text("backend: onnxruntime\nwarmup: [{inputs: {input: missing.npy}}]\n")
    after = await repository.load("tiny_cnn")
    assert after is before and repository.entry("tiny_cnn") is before
    assert before.last_reload_error and repository.reload_failures == {"tiny_cnn": 1}
    assert samples(repository, "switchyard_model_reload_failures_total") == [1]
    outputs = await repository.get("tiny_cnn").ready_runner.infer(InferRequest({"input": IMAGE}))
    assert outputs["logits"].shape == (1, 10)
    # The summary (table and json records) says the row still serves and why the reload was refused.
    [row] = summary_rows([before])
    assert row.state == "READY" and row.cells()[-1] == f"reload refused: {before.last_reload_error}"
    assert row.record()["last_reload_error"] == before.last_reload_error


async def test_a_reload_swaps_in_the_new_version_and_old_lookups_follow_it(root: Path, make_repository) -> None:
    repository = make_repository(root)
    await repository.load("tiny_cnn")
    held = repository.get("tiny_cnn")  # a request that looked the model up before the reload
    old_runner = held.runner
    write_model(root, "tiny_cnn", models.tiny_cnn(classes=4), "backend: onnxruntime\n", version=2)
    entry = await repository.load("tiny_cnn")
    assert sorted(entry.versions) == [2] and repository.get("tiny_cnn").version == 2
    assert held.ready_runner is entry.versions[2].runner is not old_runner
    outputs = await held.ready_runner.infer(InferRequest({"input": IMAGE}))
    assert outputs["logits"].shape == (1, 4)
    assert old_runner is not None
    with pytest.raises(ModelUnavailableError, match="unloading"):
        await old_runner.infer(InferRequest({"input": IMAGE}))


async def test_reload_replace_unloads_first(root: Path, make_repository) -> None:
    repository = make_repository(root)
    before = await repository.load("tiny_cnn")
    (root / "tiny_cnn" / "config.yaml").write_text("backend: onnxruntime\nreload: replace\n")
    (root / "tiny_cnn" / "1" / "model.onnx").write_bytes(b"not onnx")
    after = await repository.load("tiny_cnn")
    assert after is not before and after.state is ModelState.UNAVAILABLE
    with pytest.raises(ModelUnavailableError):
        repository.get("tiny_cnn")


async def test_a_lookup_held_across_an_unload_is_not_found(root: Path, make_repository) -> None:
    repository = make_repository(root)
    await repository.load("tiny_cnn")
    held = repository.get("tiny_cnn")
    await repository.unload("tiny_cnn")
    with pytest.raises(ModelNotFoundError, match="unloaded"):
        await held.ready_runner.infer(InferRequest({"input": IMAGE}))
