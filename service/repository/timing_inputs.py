"""What the fastest-runtime selection times a model on: the inputs it will really see.

Zeros shaped by the signature (dynamic dimensions as 1) say little about a detector whose
height and width are dynamic: a 1x1 picture is not what a camera sends. An image model
(`preprocess` in its config) is timed on a synthetic picture of the warmup's default size
run through its own preprocess, so the tensor has the shape served frames have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from backends.base import ModelSignature
from backends.loading import synthetic_inputs
from service.repository.config import ModelConfig
from service.vision.preprocess import Preprocessor

# (height, width): a VGA camera's frame; the warmup's synthetic picture for a keep_aspect
# model without a fixed size has it too (service/repository/warmup.py).
DEFAULT_PICTURE = (480, 640)


def timing_inputs(config: ModelConfig) -> Callable[[ModelSignature], Mapping[str, np.ndarray]] | None:
    """None: the signature's zeros will do (a model of fixed shapes, or one fed tensors)."""
    preprocess = config.preprocess
    if preprocess is None:
        return None

    def inputs(signature: ModelSignature) -> Mapping[str, np.ndarray]:
        picture = np.random.default_rng(0).integers(0, 256, (*DEFAULT_PICTURE, 3), dtype=np.uint8)
        tensor, _ = Preprocessor(preprocess)(picture)
        name = preprocess.input_name or signature.inputs[0].name
        return {**synthetic_inputs(signature), name: tensor}

    return inputs
