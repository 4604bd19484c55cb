from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreamConfig(_message.Message):
    __slots__ = ("model", "version", "encoding", "width", "height", "pixel_format", "drop_policy", "max_pending", "max_in_flight", "returns", "preprocess_overrides", "postprocess_overrides")
    class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENCODING_UNSPECIFIED: _ClassVar[StreamConfig.Encoding]
        ENCODING_PNG: _ClassVar[StreamConfig.Encoding]
        ENCODING_RAW: _ClassVar[StreamConfig.Encoding]
        ENCODING_H264: _ClassVar[StreamConfig.Encoding]
        ENCODING_JPEG: _ClassVar[StreamConfig.Encoding]
    ENCODING_UNSPECIFIED: StreamConfig.Encoding
    ENCODING_PNG: StreamConfig.Encoding
    ENCODING_RAW: StreamConfig.Encoding
    ENCODING_H264: StreamConfig.Encoding
    ENCODING_JPEG: StreamConfig.Encoding
    class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PIXEL_FORMAT_UNSPECIFIED: _ClassVar[StreamConfig.PixelFormat]
        PIXEL_FORMAT_BGR: _ClassVar[StreamConfig.PixelFormat]
        PIXEL_FORMAT_GRAY: _ClassVar[StreamConfig.PixelFormat]
        PIXEL_FORMAT_NV12: _ClassVar[StreamConfig.PixelFormat]
        PIXEL_FORMAT_RGB: _ClassVar[StreamConfig.PixelFormat]
    PIXEL_FORMAT_UNSPECIFIED: StreamConfig.PixelFormat
    PIXEL_FORMAT_BGR: StreamConfig.PixelFormat
    PIXEL_FORMAT_GRAY: StreamConfig.PixelFormat
    PIXEL_FORMAT_NV12: StreamConfig.PixelFormat
    PIXEL_FORMAT_RGB: StreamConfig.PixelFormat
    class DropPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DROP_POLICY_UNSPECIFIED: _ClassVar[StreamConfig.DropPolicy]
        DROP_POLICY_DROP_OLDEST: _ClassVar[StreamConfig.DropPolicy]
        DROP_POLICY_LATEST_ONLY: _ClassVar[StreamConfig.DropPolicy]
        DROP_POLICY_NONE: _ClassVar[StreamConfig.DropPolicy]
    DROP_POLICY_UNSPECIFIED: StreamConfig.DropPolicy
    DROP_POLICY_DROP_OLDEST: StreamConfig.DropPolicy
    DROP_POLICY_LATEST_ONLY: StreamConfig.DropPolicy
    DROP_POLICY_NONE: StreamConfig.DropPolicy
    class Return(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RETURN_UNSPECIFIED: _ClassVar[StreamConfig.Return]
        RETURN_TENSORS: _ClassVar[StreamConfig.Return]
        RETURN_RESULTS_AND_TENSORS: _ClassVar[StreamConfig.Return]
        RETURN_RESULTS: _ClassVar[StreamConfig.Return]
    RETURN_UNSPECIFIED: StreamConfig.Return
    RETURN_TENSORS: StreamConfig.Return
    RETURN_RESULTS_AND_TENSORS: StreamConfig.Return
    RETURN_RESULTS: StreamConfig.Return
    class PreprocessOverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class PostprocessOverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    DROP_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    RETURNS_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    POSTPROCESS_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    encoding: StreamConfig.Encoding
    width: int
    height: int
    pixel_format: StreamConfig.PixelFormat
    drop_policy: StreamConfig.DropPolicy
    max_pending: int
    max_in_flight: int
    returns: StreamConfig.Return
    preprocess_overrides: _containers.ScalarMap[str, str]
    postprocess_overrides: _containers.ScalarMap[str, str]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., encoding: _Optional[_Union[StreamConfig.Encoding, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., pixel_format: _Optional[_Union[StreamConfig.PixelFormat, str]] = ..., drop_policy: _Optional[_Union[StreamConfig.DropPolicy, str]] = ..., max_pending: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., returns: _Optional[_Union[StreamConfig.Return, str]] = ..., preprocess_overrides: _Optional[_Mapping[str, str]] = ..., postprocess_overrides: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VideoFrame(_message.Message):
    __slots__ = ("index", "pts", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts: int
    data: bytes
    def __init__(self, index: _Optional[int] = ..., pts: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StreamVideoRequest(_message.Message):
    __slots__ = ("config", "frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    frame: VideoFrame
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., frame: _Optional[_Union[VideoFrame, _Mapping]] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2", "score", "label", "class_id", "polygon")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    POLYGON_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str
    class_id: int
    polygon: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ..., score: _Optional[float] = ..., label: _Optional[str] = ..., class_id: _Optional[int] = ..., polygon: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("label", "index", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    index: int
    score: float
    def __init__(self, label: _Optional[str] = ..., index: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class VideoTensor(_message.Message):
    __slots__ = ("name", "datatype", "shape", "raw_contents")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    RAW_CONTENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    datatype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    raw_contents: bytes
    def __init__(self, name: _Optional[str] = ..., datatype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., raw_contents: _Optional[bytes] = ...) -> None: ...

class FrameTimings(_message.Message):
    __slots__ = ("queue_ms", "decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms", "total_ms")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_MS_FIELD_NUMBER: _ClassVar[int]
    INFER_MS_FIELD_NUMBER: _ClassVar[int]
    POSTPROCESS_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    queue_ms: float
    decode_ms: float
    preprocess_ms: float
    infer_ms: float
    postprocess_ms: float
    total_ms: float
    def __init__(self, queue_ms: _Optional[float] = ..., decode_ms: _Optional[float] = ..., preprocess_ms: _Optional[float] = ..., infer_ms: _Optional[float] = ..., postprocess_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class FrameResult(_message.Message):
    __slots__ = ("detections", "classifications", "tensors", "timings", "width", "height")
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    classifications: _containers.RepeatedCompositeFieldContainer[Classification]
    tensors: _containers.RepeatedCompositeFieldContainer[VideoTensor]
    timings: FrameTimings
    width: int
    height: int
    def __init__(self, detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., classifications: _Optional[_Iterable[_Union[Classification, _Mapping]]] = ..., tensors: _Optional[_Iterable[_Union[VideoTensor, _Mapping]]] = ..., timings: _Optional[_Union[FrameTimings, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class FrameError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FrameDropped(_message.Message):
    __slots__ = ("reason", "message")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[FrameDropped.Reason]
        REASON_QUEUE_FULL: _ClassVar[FrameDropped.Reason]
        REASON_SUPERSEDED: _ClassVar[FrameDropped.Reason]
    REASON_UNSPECIFIED: FrameDropped.Reason
    REASON_QUEUE_FULL: FrameDropped.Reason
    REASON_SUPERSEDED: FrameDropped.Reason
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: FrameDropped.Reason
    message: str
    def __init__(self, reason: _Optional[_Union[FrameDropped.Reason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class StreamVideoResponse(_message.Message):
    __slots__ = ("index", "pts", "result", "error", "dropped")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts: int
    result: FrameResult
    error: FrameError
    dropped: FrameDropped
    def __init__(self, index: _Optional[int] = ..., pts: _Optional[int] = ..., result: _Optional[_Union[FrameResult, _Mapping]] = ..., error: _Optional[_Union[FrameError, _Mapping]] = ..., dropped: _Optional[_Union[FrameDropped, _Mapping]] = ...) -> None: ...
