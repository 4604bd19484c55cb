"""Warmup: requests run through a version's real runner before it is READY.

A runtime's first calls at a batch size are slow (memory arenas, kernel selection, lazy
compilation); running them here means the first client request does not pay for them.
An image model (`preprocess`) is warmed the way its clients use it: a synthetic picture of
its configured size is encoded as JPEG, decoded by the server's own decoder, preprocessed,
inferred and postprocessed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from backends.base import TensorSpec
from protos.datatypes import numpy_dtype
from protos.errors import ErrorCode, SwitchyardError
from service.repository.config import WarmupConfig
from service.repository.entries import ModelVersion
from service.repository.names import inside
from service.repository.timing_inputs import DEFAULT_PICTURE
from service.scheduling.runner import InferRequest, ModelRunner


class WarmupError(SwitchyardError):
    code = ErrorCode.UNAVAILABLE


async def warm_up(version: ModelVersion, model_dir: Path) -> float | None:
    """Run every warmup the version's config lists on its runner; returns the seconds taken
    (None when it lists none). Raises WarmupError naming the batch size and what went wrong.
    """
    config, runner = version.config, version.runner
    if config is None or runner is None or not config.warmup:
        return None
    started = time.perf_counter()
    for step in config.warmup:
        try:
            if config.preprocess is not None:
                await _warm_image(version, model_dir, runner, step)
            else:
                inputs = {spec.name: _input(spec, step, model_dir) for spec in runner.signature.inputs}
                for _ in range(step.count):
                    await runner.infer(InferRequest(inputs, id="warmup"))
        except SwitchyardError as exc:
            raise WarmupError(f"warmup at batch size {step.batch_size} failed: {exc.message}") from exc
        except (OSError, ValueError) as exc:
            raise WarmupError(f"warmup at batch size {step.batch_size} failed: {exc}") from exc
    return time.perf_counter() - started


def _input(spec: TensorSpec, step: WarmupConfig, model_dir: Path) -> np.ndarray:
    source = step.inputs.get(spec.name, "random")
    if source not in ("random", "zeros"):
        return _from_file(spec, step, model_dir, source)
    # The first dimension takes the batch size when it is dynamic; other dynamic ones are 1.
    shape = [step.batch_size if i == 0 and d == -1 else max(d, 1) for i, d in enumerate(spec.shape)]
    if spec.shape and spec.shape[0] != -1 and step.batch_size != spec.shape[0]:
        raise WarmupError(f"input '{spec.name}' has a fixed first dimension {spec.shape[0]}, not {step.batch_size}")
    if spec.datatype == "BYTES":
        return np.full(shape, b"warmup", dtype=object)
    dtype = numpy_dtype(spec.datatype)
    if source == "zeros":
        return np.zeros(shape, dtype)
    rng = np.random.default_rng(0)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, min(np.iinfo(dtype).max, 100), shape, endpoint=True).astype(dtype)
    return rng.random(shape).astype(dtype)


def _from_file(spec: TensorSpec, step: WarmupConfig, model_dir: Path, source: str) -> np.ndarray:
    path = model_dir / source
    if not inside(model_dir, path):  # a symlink leading out of the model's folder
        raise WarmupError(f"input '{spec.name}': {source} lies outside the model's folder")
    if not path.is_file():
        raise WarmupError(f"input '{spec.name}': {source} does not exist in the model's folder")
    array = np.load(path, allow_pickle=False)
    if array.ndim == len(spec.shape) - 1:  # one item: the batch dimension is added
        array = array[np.newaxis]
    if array.ndim and array.shape[0] == 1 and step.batch_size > 1:
        array = np.repeat(array, step.batch_size, axis=0)
    return array


async def _warm_image(version: ModelVersion, model_dir: Path, runner: ModelRunner, step: WarmupConfig) -> None:
    # Imported here: the vision stack (cv2, simplejpeg) loads only for image models, and the
    # pipeline module imports the repository.
    import simplejpeg

    from service.vision.decode import decode_image
    from service.vision.pipeline import pipeline_for

    pre = version.config.preprocess if version.config else None
    assert pre is not None
    height, width = pre.size or DEFAULT_PICTURE
    picture = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    data = simplejpeg.encode_jpeg(picture, quality=90, colorspace="RGB")
    pipeline = pipeline_for(version, model_dir)
    for _ in range(step.count):
        inputs, transform, _ = pipeline.prepare(decode_image(data, label="warmup picture"))
        if step.batch_size > 1:
            inputs = {k: np.repeat(v, step.batch_size, axis=0) for k, v in inputs.items()}
        outputs = await runner.infer(InferRequest(inputs, id="warmup"))
        if step.batch_size > 1:
            outputs = {k: v[:1] for k, v in outputs.items()}
        pipeline.results(outputs, transform)
