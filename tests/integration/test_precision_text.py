"""The real PP-OCRv4 detector in INT8: gated on its boxes, and still finding the drawn words when served.

Quantizing the detector is the slow part (seconds), so one session-scoped build feeds every
test here through the artifact cache, as a second server start would.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from backends.precision.gate import box_agreement
from backends.precision.plan import PrecisionStep
from service.repository.config import load_model_config
from service.repository.loader import ModelLoader
from service.repository.precision import build_int8, precision_cache_dir
from tests.conftest import DEFAULT_REPOSITORY, require_text_detection
from tests.fixtures.vision.scenes import encode_jpeg, text_scene
from tests.integration.conftest import make_settings, start_server
from tests.integration.test_video_support import finds_all_words

# Where the words move in the calibration images; the test image uses a shift not among them.
CALIBRATION_SHIFTS = ((0, 0), (12, -8), (-20, 16), (30, 24))
UNSEEN_SHIFT = (7, 13)


@dataclass(frozen=True)
class Int8Detector:
    repository: Path
    cache_dir: Path
    step: PrecisionStep


@pytest.fixture(scope="session")
def int8_detector(tmp_path_factory) -> Int8Detector:
    """text_int8 (precision int8, calibration images) beside text_fp32, built once into a shared cache."""
    model = require_text_detection()
    repo = tmp_path_factory.mktemp("precision-text")
    config = (DEFAULT_REPOSITORY / "text_detection" / "config.yaml").read_text().replace("backend: auto", "")
    for name, extra in (("text_int8", "backend: onnxruntime\nprecision: int8\n"), ("text_fp32", "")):
        (repo / name / "1").mkdir(parents=True)
        os.symlink(model, repo / name / "1" / "model.onnx")
        (repo / name / "config.yaml").write_text(extra + config)
    calibration = repo / "text_int8" / "calibration"
    calibration.mkdir()
    for i, shift in enumerate(CALIBRATION_SHIFTS):
        (calibration / f"scene{i}.jpg").write_bytes(encode_jpeg(text_scene(shift=shift)[0]))
    cache = repo.parent / f"{repo.name}-cache"
    int8 = load_model_config(repo / "text_int8" / "config.yaml")
    step, _ = build_int8(
        int8, repo / "text_int8" / "1", precision_cache_dir(cache), ModelLoader.calibration_preprocess(int8)
    )
    yield Int8Detector(repo, cache, step)
    shutil.rmtree(cache, ignore_errors=True)


def test_the_detector_is_gated_on_its_boxes(int8_detector: Int8Detector) -> None:
    step = int8_detector.step
    assert step.ok, step.line()
    assert step.figures is not None and step.figures.box_agreement is not None
    assert step.figures.box_agreement >= 0.9
    assert ", boxes " in step.line() and "onnxruntime gate passed; built" in step.line()


async def test_served_int8_finds_the_words_fp32_finds(int8_detector: Int8Detector) -> None:
    image, words = text_scene(shift=UNSEEN_SHIFT)
    request = {"image": np.array([encode_jpeg(image)], dtype=object)}
    settings = make_settings(int8_detector.repository, cache_dir=int8_detector.cache_dir)
    async for running in start_server(settings):
        (version,) = (await running.client.get_model("text_int8")).versions
        assert version.precision == "int8"
        assert "reused the cached artifact" in version.precision_steps[0]  # the session's build, not a second
        int8 = (await running.client.predict("text_int8", request))["boxes"]
        fp32 = (await running.client.predict("text_fp32", request))["boxes"]
    assert finds_all_words(int8.tolist(), words)
    assert len(int8) == len(fp32) == len(words)
    assert box_agreement([fp32], [int8], iou=0.7) == 1.0
