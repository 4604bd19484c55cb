"""switchyard.v1 video messages <-> plain stream options and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TypeVar

import numpy as np
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

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

# The accepted value of each StreamConfig enum; a value missing here (UNSPECIFIED where
# there is no default, or a number this server does not know) is INVALID_ARGUMENT.
_ENCODING: dict[int, str] = {
    vpb.StreamConfig.ENCODING_JPEG: "jpeg",
    vpb.StreamConfig.ENCODING_PNG: "png",
    vpb.StreamConfig.ENCODING_RAW: "raw",
    vpb.StreamConfig.ENCODING_H264: "h264",
}
_PIXEL_FORMAT: dict[int, str] = {
    vpb.StreamConfig.PIXEL_FORMAT_RGB: "RGB",
    vpb.StreamConfig.PIXEL_FORMAT_BGR: "BGR",
    vpb.StreamConfig.PIXEL_FORMAT_GRAY: "GRAY",
    vpb.StreamConfig.PIXEL_FORMAT_NV12: "NV12",
}
_DROP_POLICY: dict[int, DropPolicy] = {
    vpb.StreamConfig.DROP_POLICY_UNSPECIFIED: "none",
    vpb.StreamConfig.DROP_POLICY_NONE: "none",
    vpb.StreamConfig.DROP_POLICY_DROP_OLDEST: "drop_oldest",
    vpb.StreamConfig.DROP_POLICY_LATEST_ONLY: "latest_only",
}
_RETURNS: dict[int, tuple[bool, bool]] = {  # -> (want_results, want_tensors)
    vpb.StreamConfig.RETURN_UNSPECIFIED: (True, False),
    vpb.StreamConfig.RETURN_RESULTS: (True, False),
    vpb.StreamConfig.RETURN_TENSORS: (False, True),
    vpb.StreamConfig.RETURN_RESULTS_AND_TENSORS: (True, True),
}
_T = TypeVar("_T")


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
    encoding = _accepted(_ENCODING, config.encoding, "encoding", vpb.StreamConfig.Encoding)
    raw = encoding == "raw"
    if raw and (not config.width or not config.height):
        raise InvalidInputError("StreamConfig: raw frames need width and height")
    # Only raw frames use pixel_format, but a number with no meaning at all is a client bug either way.
    pixel_format = (
        _accepted(_PIXEL_FORMAT, config.pixel_format, "pixel_format", vpb.StreamConfig.PixelFormat)
        if raw or config.pixel_format
        else None
    )
    drop_policy = _accepted(_DROP_POLICY, config.drop_policy, "drop_policy", vpb.StreamConfig.DropPolicy)
    max_pending = config.max_pending or DEFAULTS[drop_policy][0]
    max_in_flight = config.max_in_flight or DEFAULTS[drop_policy][1]
    if max_pending > LIMIT_MAX_PENDING:
        raise InvalidInputError(f"StreamConfig.max_pending {max_pending} is above the limit {LIMIT_MAX_PENDING}")
    if max_in_flight > LIMIT_MAX_IN_FLIGHT:
        raise InvalidInputError(f"StreamConfig.max_in_flight {max_in_flight} is above the limit {LIMIT_MAX_IN_FLIGHT}")
    want_results, want_tensors = _accepted(_RETURNS, config.returns, "returns", vpb.StreamConfig.Return)
    return StreamOptions(
        model=config.model,
        version=config.version,
        encoding=encoding,
        width=config.width if raw else None,
        height=config.height if raw else None,
        pixel_format=pixel_format if raw else None,
        drop_policy=drop_policy,
        max_pending=max_pending,
        max_in_flight=max_in_flight,
        want_results=want_results,
        want_tensors=want_tensors,
        preprocess_overrides=dict(config.preprocess_overrides),
        postprocess_overrides=dict(config.postprocess_overrides),
    )


def _accepted(table: Mapping[int, _T], value: int, name: str, enum: EnumTypeWrapper) -> _T:
    """The meaning of an enum field's value, or InvalidInputError listing the accepted names."""
    if value in table:
        return table[value]
    names = {number: label for label, number in enum.items()}
    accepted = ", ".join(names[v] for v in table if not names[v].endswith("_UNSPECIFIED"))
    raise InvalidInputError(f"StreamConfig.{name} must be one of {accepted}; got {names.get(value, value)}")


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
) -> vpb.StreamVideoResponse:
    height, width = size
    result = vpb.FrameResult(
        width=width,
        height=height,
        timings=vpb.FrameTimings(**asdict(timings)),  # the same six fields, by name
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
    return vpb.StreamVideoResponse(index=index, pts=pts, result=result)


def error_response(index: int, pts: int, error: BaseException) -> vpb.StreamVideoResponse:
    code, message = in_band_error(error, f"StreamVideo (frame {index})")
    return vpb.StreamVideoResponse(index=index, pts=pts, error=vpb.FrameError(code=code, message=message))


def dropped_response(index: int, pts: int, policy: str, max_pending: int) -> vpb.StreamVideoResponse:
    if policy == "latest_only":
        reason, message = vpb.FrameDropped.REASON_SUPERSEDED, "latest_only: a newer frame arrived while it waited"
    else:
        reason = vpb.FrameDropped.REASON_QUEUE_FULL
        message = f"drop_oldest: {max_pending} newer frame(s) arrived while it waited for the model"
    return vpb.StreamVideoResponse(index=index, pts=pts, dropped=vpb.FrameDropped(reason=reason, message=message))
