"""Unary Predict on an image: one BYTES input `image` (JPEG or PNG) instead of the model's tensor.

For a model whose config.yaml declares `preprocess` (and usually `postprocess`), the server
decodes the image, preprocesses it, runs the model and returns the postprocessed results
as tensors (K = number of results, coordinates in source-image pixels):

    detections:       boxes [K,4] FP32 (x1, y1, x2, y2), scores [K] FP32, labels [K] BYTES,
                      class_ids [K] INT32, and for db_text polygons [K,4,2] FP32 (the
                      rotated quads, clockwise from top-left)
    classifications:  labels [K] BYTES, scores [K] FP32, class_ids [K] INT32 (best first)
    no postprocess:   the model's raw outputs

`outputs` in the request selects among these names; `raw_output` works as for tensors.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from protos.errors import InvalidInputError
from protos.switchyard.v1 import predict_pb2 as pb
from service.cache.answers import Answers
from service.drift.monitor import drift_observer
from service.observability.stages import stage_record
from service.predict.messages import decode_request, encode_response
from service.repository.repository import ModelRepository, ModelVersion
from service.scheduling.runner import InferRequest
from service.vision.decode import decode_image
from service.vision.limits import DEFAULT_MAX_IMAGE_PIXELS
from service.vision.pipeline import VisionPipeline, pipeline_for
from service.vision.postprocess import Classification, Detection

IMAGE_INPUT = "image"


def is_image_request(version: ModelVersion, request: pb.PredictRequest) -> bool:
    """One BYTES input named `image`, to a vision model that has no tensor of that name."""
    if version.config is None or version.config.preprocess is None or len(request.inputs) != 1:
        return False
    tensor = request.inputs[0]
    has_own_image_input = version.signature is not None and version.signature.input(IMAGE_INPUT) is not None
    return tensor.name == IMAGE_INPUT and tensor.datatype == "BYTES" and not has_own_image_input


async def predict_image(
    repository: ModelRepository,
    version: ModelVersion,
    request: pb.PredictRequest,
    deadline: float | None,
    into: pb.PredictResponse | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    answers: Answers | None = None,
) -> pb.PredictResponse:
    """`max_pixels`: the largest picture the image may declare (checked on its header before decoding).

    `answers`: the response cache in front of decode, model and postprocess, keyed on the encoded image.
    """
    infer_request, raw = decode_request(request, deadline)
    images = infer_request.inputs[IMAGE_INPUT]
    if images.size != 1:
        raise InvalidInputError(f"input '{IMAGE_INPUT}' must hold exactly one image, got shape {list(images.shape)}")
    answers = answers or Answers(repository)
    outputs = await answers.answer(
        version, infer_request, "image", lambda: _infer_image(repository, version, infer_request, max_pixels)
    )
    # Postprocessed outputs are ours (boxes, scores, ...); raw model outputs follow its signature.
    postprocess = version.config.postprocess if version.config is not None else None
    signature = version.signature if postprocess is None else None
    return encode_response(request, version.version, outputs, raw, signature, into)


async def _infer_image(
    repository: ModelRepository, version: ModelVersion, infer_request: InferRequest, max_pixels: int
) -> dict[str, np.ndarray]:
    images = infer_request.inputs[IMAGE_INPUT]
    runner = version.ready_runner
    pipeline = pipeline_for(version, repository.entry(version.name).path)
    inputs, transform, times, image = await asyncio.to_thread(_prepare, pipeline, images.reshape(-1)[0], max_pixels)
    if (observer := drift_observer(runner)) is not None:
        observer.frame(image)  # its statistics are computed on the drift monitor's thread, if sampled
    stage_record("image.decode", times[0], times[1], version.name)
    stage_record("preprocess", times[1], times[2], version.name)
    requested, infer_request.outputs = infer_request.outputs, ()
    infer_request.inputs = inputs
    outputs = await runner.infer(infer_request)
    # pipeline_for has checked the config; the pipeline decodes what `postprocess` declares.
    postprocess = version.config.postprocess if version.config is not None else None
    if pipeline.postprocessor is not None and postprocess is not None:
        started = time.time_ns()
        results, _ = await asyncio.to_thread(pipeline.results, outputs, transform)
        stage_record("postprocess", started, time.time_ns(), version.name)
        outputs = result_tensors(results, postprocess.kind)
    if requested:
        missing = sorted(set(requested) - set(outputs))
        if missing:
            raise InvalidInputError(f"model '{version.name}' image outputs are {sorted(outputs)}; unknown: {missing}")
        outputs = {name: outputs[name] for name in requested}
    return outputs


def _prepare(pipeline: VisionPipeline, data: bytes, max_pixels: int):
    """Decode and preprocess (in a worker thread); the stages' clock readings are recorded on the loop."""
    started = time.time_ns()
    image = decode_image(bytes(data), max_pixels, f"image in input '{IMAGE_INPUT}'")
    decoded = time.time_ns()
    inputs, transform, _ = pipeline.prepare(image)
    return inputs, transform, (started, decoded, time.time_ns()), image


def result_tensors(results: list[Detection] | list[Classification], kind: str) -> dict[str, np.ndarray]:
    """Structured results -> the documented output tensors (see the module docstring).

    The set of names depends only on the postprocess kind, never on K (K may be 0).
    """
    labels = np.array([r.label.encode() for r in results], dtype=object)
    scores = np.array([r.score for r in results], np.float32)
    if kind == "classification":
        classes = [r for r in results if isinstance(r, Classification)]
        return {"labels": labels, "scores": scores, "class_ids": np.array([r.index for r in classes], np.int32)}
    detections = [r for r in results if isinstance(r, Detection)]
    outputs = {
        "boxes": np.array([r.box for r in detections], np.float32).reshape(-1, 4),
        "scores": scores,
        "labels": labels,
        "class_ids": np.array([r.class_id for r in detections], np.int32),
    }
    if kind == "db_text":  # every text detection carries its rotated quad
        outputs["polygons"] = np.array([r.polygon for r in detections], np.float32).reshape(-1, 4, 2)
    return outputs
