"""One model's vision pipeline: decoded RGB frame -> input tensor -> model -> results.

Shared by StreamVideo (service/video/session.py) and unary Predict on images
(service/predict/image.py), so one config.yaml serves both. The per-model pipeline is
built once and cached (its configs are frozen and hashable); a stream with overrides
gets its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from service.repository.repository import ModelVersion
from service.vision.config import PreprocessConfig, apply_overrides, apply_preprocess_overrides
from service.vision.limits import DEFAULT_MAX_IMAGE_PIXELS
from service.vision.postprocess import Classification, Detection, Postprocessor, make_postprocessor
from service.vision.preprocess import Preprocessor, Transform

Results = list[Detection] | list[Classification]


@dataclass(frozen=True)
class VisionPipeline:
    input_name: str
    preprocessor: Preprocessor
    postprocessor: Postprocessor | None

    def prepare(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], Transform, float]:
        """(model inputs, transform, preprocess ms) for one RGB uint8 frame."""
        started = time.perf_counter()
        tensor, transform = self.preprocessor(image)
        return {self.input_name: tensor}, transform, (time.perf_counter() - started) * 1e3

    def results(self, outputs: Mapping[str, np.ndarray], transform: Transform) -> tuple[Results, float]:
        """(detections or classifications in source pixels, postprocess ms)."""
        if self.postprocessor is None:
            return [], 0.0
        started = time.perf_counter()
        found = self.postprocessor(outputs, transform)  # one request's outputs, batch dim 1
        return found, (time.perf_counter() - started) * 1e3


def pipeline_for(
    version: ModelVersion,
    model_dir: Path,
    preprocess_overrides: Mapping[str, str] | None = None,
    postprocess_overrides: Mapping[str, str] | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> VisionPipeline:
    """The pipeline a model's config.yaml declares, with optional per-stream overrides.

    Preprocess overrides may not make the model's input larger than its config allows
    (`max_pixels` bounds it when the config keeps the source size).
    """
    config = version.config
    if config is None or config.preprocess is None:
        raise SwitchyardError(
            f"model '{version.name}' declares no `preprocess` in its config.yaml, so it cannot take "
            "images or video frames (see docs/video.md)",
            ErrorCode.FAILED_PRECONDITION,
        )
    pre = apply_preprocess_overrides(config.preprocess, dict(preprocess_overrides or {}), max_pixels)
    post = config.postprocess
    if postprocess_overrides:
        if post is None:
            raise InvalidInputError(f"model '{version.name}' declares no `postprocess` to override")
        post = apply_overrides(post, dict(postprocess_overrides))
    input_name = _input_name(version, pre)
    return _cached_pipeline(input_name, pre, post, model_dir)


@lru_cache(maxsize=64)
def _cached_pipeline(input_name: str, pre: PreprocessConfig, post, model_dir: Path) -> VisionPipeline:
    return VisionPipeline(input_name, Preprocessor(pre), make_postprocessor(post, model_dir) if post else None)


def _input_name(version: ModelVersion, pre: PreprocessConfig) -> str:
    signature = version.signature
    return image_input_name(version.name, [t.name for t in signature.inputs] if signature else [], pre)


def image_input_name(model: str, names: list[str], pre: PreprocessConfig) -> str:
    """The input a preprocessed picture goes to: preprocess.input_name, which must be one of the
    model's inputs `names` (when known), or the model's only input."""
    if pre.input_name is not None:
        if names and pre.input_name not in names:
            raise SwitchyardError(
                f"model '{model}': preprocess.input_name '{pre.input_name}' is not one of its inputs {names}",
                ErrorCode.FAILED_PRECONDITION,
            )
        return pre.input_name
    if len(names) != 1:
        raise SwitchyardError(
            f"model '{model}' has inputs {names}; set preprocess.input_name to the image input",
            ErrorCode.FAILED_PRECONDITION,
        )
    return names[0]
