"""switchyard.v1 video messages <-> plain stream options and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from protos import codec
from protos.datatypes import datatype_of
from protos.errors import InvalidInputError
from protos.switchyard.v1 import video_pb2 as vpb
from service.rpc.errors import in_band_error
from service.video.queue import DropPolicy
from service.vision.postprocess import Classification, Detection

# Defaults per policy: `none` keeps two frames in the model so pre/postprocessing overlap
# inference (throughput); the live policies keep one of each, since every frame queued on
# the server adds one model run to the latency.
DEFAULTS = {"none": (2, 2), "drop_oldest": (1, 1), "latest_only": (1, 1)}  # (max_pending, max_in_flight)
LIMIT_MAX_PENDING = 256
LIMIT_MAX_IN_FLIGHT = 16

_DROP_POLICY: dict[int, DropPolicy] = {
    vpb.StreamConfig.NONE: "none",
    vpb.StreamConfig.DROP_OLDEST: "drop_oldest",
    vpb.StreamConfig.LATEST_ONLY: "latest_only",
}


@dataclass(frozen=True)
class StreamOptions:
    model: str
    version: str
    encoding: str  # jpeg | png | raw | h264
    width: int | None
    height: int | None
    pixel_format: str | None
    drop_policy: DropPolicy
    max_pending: int
    max_in_flight: int
    want_results: bool
    want_tensors: bool
    preprocess_overrides: dict[str, str] = field(default_factory=dict)
    postprocess_overrides: dict[str, str] = field(default_factory=dict)


def stream_options(config: vpb.StreamConfig) -> StreamOptions:
    """Validate the opening message; raises InvalidInputError naming the field."""
    if not config.model:
        raise InvalidInputError("StreamConfig.model is required")
    encoding = vpb.StreamConfig.Encoding.Name(config.encoding).lower()
    raw = encoding == "raw"
    if raw and (not config.width or not config.height):
        raise InvalidInputError("StreamConfig: raw frames need width and height")
    drop_policy = _DROP_POLICY[config.drop_policy]
    max_pending = config.max_pending or DEFAULTS[drop_policy][0]
    max_in_flight = config.max_in_flight or DEFAULTS[drop_policy][1]
    if max_pending > LIMIT_MAX_PENDING:
        raise InvalidInputError(f"StreamConfig.max_pending {max_pending} is above the limit {LIMIT_MAX_PENDING}")
    if max_in_flight > LIMIT_MAX_IN_FLIGHT:
        raise InvalidInputError(f"StreamConfig.max_in_flight {max_in_flight} is above the limit {LIMIT_MAX_IN_FLIGHT}")
    returns = getattr(config, "return")  # a Python keyword, so no attribute syntax
    return StreamOptions(
        model=config.model,
        version=config.version,
        encoding=encoding,
        width=config.width if raw else None,
        height=config.height if raw else None,
        pixel_format=vpb.StreamConfig.PixelFormat.Name(config.pixel_format) if raw else None,
        drop_policy=drop_policy,
        max_pending=max_pending,
        max_in_flight=max_in_flight,
        want_results=returns in (vpb.StreamConfig.RESULTS, vpb.StreamConfig.RESULTS_AND_TENSORS),
        want_tensors=returns in (vpb.StreamConfig.TENSORS, vpb.StreamConfig.RESULTS_AND_TENSORS),
        preprocess_overrides=dict(config.preprocess_overrides),
        postprocess_overrides=dict(config.postprocess_overrides),
    )


@dataclass
class Timings:
    queue_ms: float = 0.0
    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    total_ms: float = 0.0


def result_response(
    index: int,
    pts: int,
    size: tuple[int, int],
    results: list[Detection] | list[Classification],
    tensors: Mapping[str, np.ndarray] | None,
    timings: Timings,
) -> vpb.VideoResponse:
    height, width = size
    result = vpb.FrameResult(
        width=width,
        height=height,
        timings=vpb.FrameTimings(
            queue_ms=timings.queue_ms,
            decode_ms=timings.decode_ms,
            preprocess_ms=timings.preprocess_ms,
            infer_ms=timings.infer_ms,
            postprocess_ms=timings.postprocess_ms,
            total_ms=timings.total_ms,
        ),
    )
    for item in results:  # tens per frame at most
        if isinstance(item, Detection):
            x1, y1, x2, y2 = item.box
            det = result.detections.add(
                x1=x1, y1=y1, x2=x2, y2=y2, score=item.score, label=item.label, class_id=item.class_id
            )
            if item.polygon:
                det.polygon.extend(vpb.Point(x=x, y=y) for x, y in item.polygon)
        else:
            result.classifications.add(label=item.label, index=item.index, score=item.score)
    for name, array in (tensors or {}).items():
        result.tensors.add(
            name=name, datatype=datatype_of(array.dtype), shape=array.shape, raw_contents=codec.encode_raw(array)
        )
    return vpb.VideoResponse(index=index, pts=pts, result=result)


def error_response(index: int, pts: int, error: BaseException) -> vpb.VideoResponse:
    code, message = in_band_error(error, f"StreamVideo (frame {index})")
    return vpb.VideoResponse(index=index, pts=pts, error=vpb.FrameError(code=code, message=message))


def dropped_response(index: int, pts: int, policy: str, max_pending: int) -> vpb.VideoResponse:
    if policy == "latest_only":
        reason, message = vpb.FrameDropped.SUPERSEDED, "latest_only: a newer frame arrived while it waited"
    else:
        reason = vpb.FrameDropped.QUEUE_FULL
        message = f"drop_oldest: {max_pending} newer frame(s) arrived while it waited for the model"
    return vpb.VideoResponse(index=index, pts=pts, dropped=vpb.FrameDropped(reason=reason, message=message))
