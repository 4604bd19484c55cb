"""StreamVideo messages shared by the sync and asyncio video clients: config, frames, results."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
import numpy as np

from clients.errors import PredictError
from protos import codec
from protos.switchyard.v1 import video_pb2 as vpb

__all__ = ["Classification", "Detection", "Frame", "FrameResult", "stream_config"]

ENCODINGS = ("jpeg", "png", "raw", "h264")
DROP_POLICIES = ("none", "drop_oldest", "latest_only")
RETURNS = ("results", "tensors", "results_and_tensors")


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded frame (or H.264 access unit). index defaults to a running count."""

    data: bytes
    index: int | None = None
    pts: int | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """One switchyard.v1.Detection of a frame's reply, decoded (the server's postprocess made it)."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in source pixels
    score: float
    label: str
    class_id: int = 0
    polygon: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """One switchyard.v1.Classification of a frame's reply, decoded; best first."""

    label: str
    index: int
    score: float


@dataclass
class FrameResult:
    """The server's one reply for one frame: a result, an error, or a drop notice."""

    index: int
    pts: int
    detections: list[Detection] = field(default_factory=list)
    classifications: list[Classification] = field(default_factory=list)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # server stages, ms
    width: int = 0
    height: int = 0
    error: PredictError | None = None
    dropped: str | None = None  # QUEUE_FULL / SUPERSEDED
    drop_message: str = ""
    latency_ms: float | None = None  # frame handed to gRPC -> reply received, on this client

    @property
    def ok(self) -> bool:
        return self.error is None and self.dropped is None

    def to_json(self) -> dict:
        """The CLI's --jsonl line: boxes as [x1, y1, x2, y2] in source pixels."""
        line: dict = {"frame": self.index, "pts": self.pts}
        if self.error is not None:
            line["error"] = {"code": self.error.code.name, "message": self.error.details}
        elif self.dropped is not None:
            line["dropped"] = {"reason": self.dropped, "message": self.drop_message}
        else:
            line["boxes"] = [[round(v, 2) for v in d.box] for d in self.detections]
            line["scores"] = [round(d.score, 4) for d in self.detections]
            line["labels"] = [d.label for d in self.detections]
            if self.classifications:
                line["classes"] = [{"label": c.label, "score": round(c.score, 4)} for c in self.classifications]
        if self.latency_ms is not None:
            line["latency_ms"] = round(self.latency_ms, 2)
        return line


def stream_config(
    model: str,
    *,
    version: str = "",
    encoding: str = "jpeg",
    width: int = 0,
    height: int = 0,
    pixel_format: str = "RGB",
    drop_policy: str = "none",
    max_pending: int = 0,
    max_in_flight: int = 0,
    returns: str = "results",
    preprocess: Mapping[str, object] | None = None,
    postprocess: Mapping[str, object] | None = None,
) -> vpb.StreamConfig:
    """The opening message; overrides are sent as strings (e.g. {"box_thresh": 0.5})."""
    for name, value, allowed in (
        ("encoding", encoding, ENCODINGS),
        ("drop_policy", drop_policy, DROP_POLICIES),
        ("returns", returns, RETURNS),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    # Enum fields take their value names; the wire names carry the enum's prefix.
    return vpb.StreamConfig(
        model=model,
        version=version,
        encoding=f"ENCODING_{encoding.upper()}",
        width=width,
        height=height,
        pixel_format=f"PIXEL_FORMAT_{pixel_format.upper()}",
        drop_policy=f"DROP_POLICY_{drop_policy.upper()}",
        max_pending=max_pending,
        max_in_flight=max_in_flight,
        returns=f"RETURN_{returns.upper()}",
        preprocess_overrides={k: str(v) for k, v in (preprocess or {}).items()},
        postprocess_overrides={k: str(v) for k, v in (postprocess or {}).items()},
    )


class SendTimes:
    """Frame index -> when it was handed to gRPC, so replies can carry end-to-end latency."""

    def __init__(self) -> None:
        self._sent: dict[int, float] = {}
        self._count = 0

    def request(self, frame: Frame | bytes) -> vpb.StreamVideoRequest:
        if not isinstance(frame, Frame):
            frame = Frame(bytes(frame))
        index = self._count if frame.index is None else frame.index
        self._count = index + 1
        pts = index if frame.pts is None else frame.pts
        self._sent[index] = time.perf_counter()
        return vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=index, pts=pts, data=frame.data))

    def latency_ms(self, index: int) -> float | None:
        sent = self._sent.pop(index, None)
        return None if sent is None else (time.perf_counter() - sent) * 1e3


def decode_response(response: vpb.StreamVideoResponse, times: SendTimes) -> FrameResult:
    out = FrameResult(index=response.index, pts=response.pts, latency_ms=times.latency_ms(response.index))
    kind = response.WhichOneof("outcome")
    if kind == "error":
        out.error = PredictError(grpc.StatusCode[response.error.code], response.error.message, str(response.index))
    elif kind == "dropped":
        out.dropped = vpb.FrameDropped.Reason.Name(response.dropped.reason).removeprefix("REASON_")
        out.drop_message = response.dropped.message
    else:
        result = response.result
        out.width, out.height = result.width, result.height
        out.detections = [
            Detection(
                (d.x1, d.y1, d.x2, d.y2),
                d.score,
                d.label,
                d.class_id,
                tuple((p.x, p.y) for p in d.polygon) or None,
            )
            for d in result.detections
        ]
        out.classifications = [Classification(c.label, c.index, c.score) for c in result.classifications]
        out.tensors = {t.name: codec.decode_raw(t.name, t.datatype, t.shape, t.raw_contents) for t in result.tensors}
        t = result.timings
        out.timings = {
            "queue_ms": t.queue_ms,
            "decode_ms": t.decode_ms,
            "preprocess_ms": t.preprocess_ms,
            "infer_ms": t.infer_ms,
            "postprocess_ms": t.postprocess_ms,
            "total_ms": t.total_ms,
        }
    return out
