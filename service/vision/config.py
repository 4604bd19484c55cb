"""Typed pre- and post-processing declarations for a model's config.yaml.

The model repository validates these once when a model loads; the hot path only ever
sees the frozen models (and the arrays the Preprocessor precomputes from them).
A video stream may override individual fields for its own lifetime through
`apply_overrides`, which re-validates so a stream can never hold an invalid config;
`apply_preprocess_overrides` also keeps a stream's model input within what the model's
config allows (a client must not make the server build a 6000x6000 tensor per frame).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from protos.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

ColorOrder = Literal["RGB", "BGR", "GRAY"]
ResizeMode = Literal["stretch", "letterbox", "pad", "keep_aspect"]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PreprocessConfig(_Strict):
    """How a decoded RGB uint8 frame becomes the model's input tensor.

    The tensor is ((pixel * scale) - mean) / std per channel, in the model's color order.
    """

    input_name: str | None = None  # model input to feed; None = the model's only input
    resize_mode: ResizeMode = "stretch"
    # (height, width) of the model input; required for stretch / letterbox / pad.
    size: tuple[PositiveInt, PositiveInt] | None = None
    # keep_aspect: the longer side is scaled down to at most max_side (never up) ...
    max_side: PositiveInt | None = None
    # ... then each side is rounded to a multiple of this (PP-OCR's DB models need 32).
    multiple: PositiveInt = 1
    pad_value: Annotated[int, Field(ge=0, le=255)] = 0
    interpolation: Literal["linear", "nearest", "area", "cubic"] = "linear"
    color_order: ColorOrder = "RGB"
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)  # one value applies to every channel
    std: tuple[float, ...] = (1.0,)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "float16", "uint8"] = "float32"
    # Largest input side a stream's preprocess_overrides may ask for; None = no larger than
    # this config's own size / max_side.
    override_max_side: PositiveInt | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PreprocessConfig:
        if self.resize_mode == "keep_aspect":
            if self.size is not None:
                raise ValueError("size: not used with resize_mode keep_aspect (use max_side)")
        elif self.size is None:
            raise ValueError(f"size: [height, width] is required for resize_mode {self.resize_mode}")
        channels = 1 if self.color_order == "GRAY" else 3
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, channels):
                raise ValueError(f"{name}: needs 1 or {channels} values for {self.color_order}, got {len(values)}")
        if any(s == 0 for s in self.std):
            raise ValueError("std: values must be non-zero")
        identity = self.scale == 1.0 and set(self.mean) == {0.0} and set(self.std) == {1.0}
        if self.dtype == "uint8" and not identity:
            raise ValueError("dtype: uint8 input cannot carry scale/mean/std normalisation")
        return self

    def input_bound(self) -> tuple[int, int] | None:
        """(longest side, pixels) of the largest input this config can make; None = the source's size."""
        if self.size is not None:
            return max(self.size), self.size[0] * self.size[1]
        if self.max_side is None:
            return None
        # keep_aspect rounds each side to the nearest multiple, and to at least one multiple.
        side = max(self.multiple, round(self.max_side / self.multiple) * self.multiple)
        return side, side * side

    def shape_error(self, shape: tuple[int, ...]) -> str | None:
        """Why an image tensor of this shape cannot be the model's input, or None.

        keep_aspect's `multiple` is the model's own rule (PP-OCR's detectors need multiples of
        32), so raw tensors must keep it too. A fixed `size` is a resize choice that a stream
        may change: a fixed model says so in its own static input shape.
        """
        if self.resize_mode != "keep_aspect" or self.multiple == 1 or len(shape) != 4:
            return None
        height, width = shape[2:4] if self.layout == "NCHW" else shape[1:3]
        if height % self.multiple or width % self.multiple:
            return f"height and width must be multiples of {self.multiple} ({self.layout}), got shape {list(shape)}"
        return None


class _PostprocessBase(_Strict):
    output_name: str | None = None  # model output to read; None = the model's first output


class ClassificationConfig(_PostprocessBase):
    kind: Literal["classification"]
    top_k: PositiveInt = 5
    labels_file: str | None = None  # one label per line, relative to the model directory
    softmax: bool = False  # set when the model emits logits rather than probabilities
    min_score: float = 0.0


class DbTextConfig(_PostprocessBase):
    """PaddleOCR's DBPostProcess; defaults are PaddleOCR's det_db_* defaults."""

    kind: Literal["db_text"]
    thresh: Probability = 0.3  # pixel probability that counts as text
    box_thresh: Probability = 0.6  # minimum mean probability inside a box
    unclip_ratio: NonNegativeFloat = 1.5  # how far boxes grow back out of the shrunk map
    max_candidates: PositiveInt = 1000
    min_size: NonNegativeFloat = 3.0  # shorter box side, in map pixels
    use_dilation: bool = False
    score_mode: Literal["fast", "slow"] = "fast"
    label: str = "text"


class BoxDetectionConfig(_PostprocessBase):
    """Single-shot detectors: boxes plus per-class scores, thresholded and NMS'd.

    Either two outputs (boxes_output [1,K,4] and scores_output [1,K,C] or [1,K]) or one
    output_name holding [1,K,4+C] rows (or [1,K,5+C] with objectness; transposed=True
    for the [1,4+C,K] layout YOLOv8 exports).
    """

    kind: Literal["box_detection"]
    boxes_output: str | None = None
    scores_output: str | None = None
    objectness: bool = False
    transposed: bool = False
    box_format: Literal["xyxy", "xywh", "cxcywh", "yxyx"] = "xyxy"
    normalized: bool = False  # coordinates in [0, 1] of the model input
    score_threshold: Probability = 0.5
    iou_threshold: Probability = 0.45
    max_detections: PositiveInt = 100
    class_agnostic: bool = False
    labels_file: str | None = None

    @model_validator(mode="after")
    def _outputs(self) -> BoxDetectionConfig:
        if (self.boxes_output is None) != (self.scores_output is None):
            raise ValueError("boxes_output and scores_output must be given together")
        if self.boxes_output is not None and self.output_name is not None:
            raise ValueError("output_name: give either output_name or boxes_output/scores_output")
        return self


PostprocessConfig = Annotated[
    ClassificationConfig | DbTextConfig | BoxDetectionConfig,
    Field(discriminator="kind"),
]


ConfigT = TypeVar("ConfigT", bound=BaseModel)
_NOT_OVERRIDABLE = frozenset({"kind", "input_name", "output_name", "boxes_output", "scores_output", "labels_file"})
# What a stream may change about preprocessing: the geometry, within the model's bound. Colour
# order, normalisation, layout and dtype describe what the model was trained on, not a choice.
PREPROCESS_OVERRIDABLE = frozenset({"resize_mode", "size", "max_side", "multiple", "interpolation", "pad_value"})
_GEOMETRY = ("resize_mode", "size", "max_side", "multiple")
# Strides of real detectors are 8-64; rounding to more only pads frames with nothing.
MAX_OVERRIDE_MULTIPLE = 128


def apply_preprocess_overrides(
    config: PreprocessConfig, overrides: Mapping[str, str], max_pixels: int
) -> PreprocessConfig:
    """`apply_overrides` for preprocessing: only PREPROCESS_OVERRIDABLE keys, and no model input
    larger than the config allows: its override_max_side, else its own size / max_side, else
    (a config that keeps the source size) `max_pixels`, the server's limit on a source picture."""
    if not overrides:
        return config
    fixed = sorted(set(overrides) - PREPROCESS_OVERRIDABLE)
    if fixed:
        raise InvalidInputError(
            f"PreprocessConfig parameter {fixed[0]!r} cannot be overridden by a stream; "
            f"overridable: {', '.join(sorted(PREPROCESS_OVERRIDABLE))}"
        )
    new = apply_overrides(config, overrides)
    multiple_bound = max(MAX_OVERRIDE_MULTIPLE, config.multiple)
    if "multiple" in overrides and (new.multiple > multiple_bound or new.multiple % config.multiple):
        raise InvalidInputError(
            f"preprocess override 'multiple' {new.multiple} must be a multiple of the model's "
            f"{config.multiple} and at most {multiple_bound}"
        )
    own = config.input_bound()
    if config.override_max_side is not None:
        side: int | None = config.override_max_side
        pixels, source = config.override_max_side**2, f"its override_max_side {config.override_max_side}"
    elif own is not None:
        (side, pixels), source = own, "its own size / max_side"
    else:
        side, pixels, source = None, max_pixels, "the server's max_image_pixels"
    wanted = new.input_bound()
    if wanted is None:
        too_large = own is not None  # back to the source's size, which the config did not allow
    else:
        too_large = (side is not None and wanted[0] > side) or wanted[1] > pixels
    if too_large:
        keys = ", ".join(f"{key}={overrides[key]!r}" for key in _GEOMETRY if key in overrides)
        made = "the source frame's size" if wanted is None else f"up to {wanted[0]} px a side, {wanted[1]} pixels"
        most = f"{side} px a side and {pixels} pixels" if side is not None else f"{pixels} pixels"
        raise InvalidInputError(
            f"preprocess overrides {keys} would make model inputs of {made}; "
            f"the model's config allows at most {most} ({source})"
        )
    return new


def image_input_check(
    model: str, config: PreprocessConfig, input_names: list[str]
) -> Callable[[Mapping[str, np.ndarray]], None] | None:
    """A check of raw request tensors against the shape rule `config` declares for the image
    input, for the model's runner (so the runtime never sees them); None when there is no rule."""
    name = config.input_name or (input_names[0] if len(input_names) == 1 else None)
    if name is None or config.resize_mode != "keep_aspect" or config.multiple == 1:
        return None

    def check(inputs: Mapping[str, np.ndarray]) -> None:
        array = inputs.get(name)
        problem = None if array is None else config.shape_error(array.shape)
        if problem is not None:
            raise InvalidInputError(f"model '{model}': input '{name}': {problem} (config.yaml preprocess)")

    return check


def apply_overrides(config: ConfigT, overrides: Mapping[str, str]) -> ConfigT:
    """Return a copy of `config` with string overrides applied, e.g. {"box_thresh": "0.5"}.

    Values are parsed as JSON when they look like JSON lists ("[0.5, 0.5, 0.5]") and as
    comma-separated lists when the field is a tuple ("0.5,0.5,0.5"); pydantic's lax mode
    turns "0.5" / "true" / "5" into numbers and booleans. Raises InvalidInputError naming
    the field on an unknown key or a bad value.
    """
    if not overrides:
        return config
    fields = type(config).model_fields
    allowed = sorted(set(fields) - _NOT_OVERRIDABLE)
    data = config.model_dump()
    for key, raw in overrides.items():
        if key not in fields or key in _NOT_OVERRIDABLE:
            raise InvalidInputError(
                f"unknown or fixed {type(config).__name__} parameter {key!r}; overridable: {', '.join(allowed)}"
            )
        data[key] = _parse_value(raw, tuple_field=isinstance(data[key], tuple) or key == "size")
    try:
        return type(config).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or ", ".join(overrides)
        raise InvalidInputError(
            f"bad override for {type(config).__name__} field {field!r}: {err['msg']} (given {dict(overrides)!r})"
        ) from None


def _parse_value(raw: str, *, tuple_field: bool) -> object:
    text = str(raw).strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # left for pydantic to reject with the field's name
    if tuple_field:
        return [part.strip() for part in text.split(",")]
    if text.lower() in ("none", "null"):
        return None
    return text
