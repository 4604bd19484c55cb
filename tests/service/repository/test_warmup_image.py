"""An image model is warmed as its clients use it: a JPEG decoded, preprocessed, inferred and postprocessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.repository.entries import ModelState
from tests.conftest import write_model
from tests.fixtures import models

IMAGE_MODEL = (
    "backend: onnxruntime\nmax_batch_size: 2\n"
    "preprocess: {size: [64, 64], scale: 0.00392156862745098}\n"
    "postprocess: {kind: classification, top_k: 3, output_name: OUTPUT}\n"
    "warmup: [{batch_size: 1, count: 2}, {batch_size: 2}]\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "models"


async def test_every_batch_size_runs_a_decoded_picture_through_the_pipeline(root: Path, make_repository) -> None:
    write_model(root, "classifier", models.tiny_cnn(), IMAGE_MODEL.replace("OUTPUT", "logits"))
    entry = await make_repository(root).load("classifier")
    version = entry.versions[1]
    assert version.state is ModelState.READY, version.reason
    assert version.warmup_seconds is not None and version.warmup_seconds > 0
    stats = version.ready_runner.stats
    assert stats.success_count == 3 and stats.inference_count == 2 + 2  # two at batch 1, one at batch 2


async def test_a_postprocess_that_fails_on_the_models_outputs_fails_the_warmup(root: Path, make_repository) -> None:
    # Only a warmup that postprocesses real outputs finds this before the first client does.
    write_model(root, "classifier", models.tiny_cnn(), IMAGE_MODEL.replace("OUTPUT", "scores"))
    entry = await make_repository(root).load("classifier")
    version = entry.versions[1]
    assert version.state is ModelState.UNAVAILABLE
    assert version.reason.startswith("warmup at batch size 1 failed:") and "scores" in version.reason
