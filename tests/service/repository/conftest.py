"""A repository in tmp with one model that loads, one corrupt artifact and two folders that are not models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from service.repository.loader import ModelLoader
from service.repository.repository import ModelRepository
from service.settings import ServerSettings
from tests.conftest import write_model
from tests.fixtures import models

# NVIDIA hardware (from the fixture) with this machine's real runtimes: the GPU routes are
# skipped (no TensorRT, no CUDA provider) before the CPU candidates are tried.
NVIDIA = Path(__file__).resolve().parents[2] / "fixtures" / "sysroots" / "nvidia-1x"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root, "tiny_cnn", models.tiny_cnn(), "")
    corrupt = write_model(root, "corrupt", None, "")
    (corrupt / "1" / "model.onnx").write_bytes(b"this is not an onnx model")
    (root / "no_config" / "1").mkdir(parents=True)
    (root / "from_triton" / "1").mkdir(parents=True)
    (root / "from_triton" / "config.pbtxt").write_text('platform: "onnxruntime_onnx"\n')
    (root / ".cache" / "1").mkdir(parents=True)  # hidden: not looked at
    (root / "README.md").write_text("not a folder, not a model\n")
    return root


@pytest.fixture
async def make_repository() -> AsyncIterator[Callable[..., ModelRepository]]:
    """Repositories on the NVIDIA fixture's hardware; their runners are closed after the test."""
    made: list[ModelRepository] = []

    def make(root: Path, only: list[str] | None = None) -> ModelRepository:
        settings = ServerSettings(model_repository=root, probe_sysroot=NVIDIA, metrics_port=-1)
        made.append(ModelRepository(root, ModelLoader(settings), only))
        return made[-1]

    yield make
    for repository in made:
        await repository.close()
