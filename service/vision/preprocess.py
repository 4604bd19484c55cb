"""Decoded RGB frame -> model input tensor, plus the Transform that maps back.

Everything is whole-array work in OpenCV / numpy. A stream's frames all have one size,
so the geometry (target size, scales, padding) is planned once per source size and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from protos.errors import InvalidInputError
from service.vision.config import PreprocessConfig

_INTERPOLATION = {
    "linear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
}


@dataclass(frozen=True, slots=True)
class Transform:
    """Source pixel -> model input pixel is  p * scale + pad;  to_source inverts it."""

    src_width: int
    src_height: int
    input_width: int
    input_height: int
    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Map [..., 2] (x, y) model-input coordinates to source pixels, clipped to the frame."""
        pts = np.asarray(points, dtype=np.float32)
        out = np.empty_like(pts)
        out[..., 0] = (pts[..., 0] - self.pad_x) / self.scale_x
        out[..., 1] = (pts[..., 1] - self.pad_y) / self.scale_y
        np.clip(out[..., 0], 0, self.src_width, out=out[..., 0])
        np.clip(out[..., 1], 0, self.src_height, out=out[..., 1])
        return out

    def boxes_to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Map [K, 4] (x1, y1, x2, y2) model-input boxes to source pixels."""
        boxes = np.asarray(boxes, dtype=np.float32)
        return self.to_source(boxes.reshape(-1, 2, 2)).reshape(-1, 4)


class Preprocessor:
    """`Preprocessor(config)(image_rgb) -> (tensor, Transform)`; tensor has batch dim 1."""

    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config
        channels = 1 if config.color_order == "GRAY" else 3
        mean = np.broadcast_to(np.asarray(config.mean, np.float32), (channels,))
        std = np.broadcast_to(np.asarray(config.std, np.float32), (channels,))
        # ((p * scale) - mean) / std folded into one multiply-add per element.
        self._gain = (config.scale / std).astype(np.float32)
        self._bias = (-mean / std).astype(np.float32)
        self._identity = bool(np.all(self._gain == 1.0) and np.all(self._bias == 0.0))
        # Index of the source RGB channel feeding each model channel.
        self._channel_src = (2, 1, 0) if config.color_order == "BGR" else (0, 1, 2)
        self._channels = channels
        self._interp = _INTERPOLATION[config.interpolation]
        self.plan = lru_cache(maxsize=8)(self._plan)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, Transform]:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InvalidInputError(f"preprocess expects an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        tf = self.plan(height, width)
        resized_w = round(width * tf.scale_x)
        resized_h = round(height * tf.scale_y)
        if (resized_w, resized_h) != (width, height):
            image = cv2.resize(image, (resized_w, resized_h), interpolation=self._interp)
        if (resized_w, resized_h) != (tf.input_width, tf.input_height):
            left, top = int(tf.pad_x), int(tf.pad_y)
            value = (self.config.pad_value,) * 3
            image = cv2.copyMakeBorder(
                image,
                top,
                tf.input_height - resized_h - top,
                left,
                tf.input_width - resized_w - left,
                cv2.BORDER_CONSTANT,
                value=value,
            )
        if self.config.color_order == "GRAY":
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
        return self._to_tensor(image), tf

    def _to_tensor(self, image: np.ndarray) -> np.ndarray:
        cfg = self.config
        h, w = image.shape[:2]
        c = self._channels
        if cfg.dtype == "uint8":
            hwc = image if cfg.color_order != "BGR" else image[:, :, ::-1]
            out = hwc.transpose(2, 0, 1) if cfg.layout == "NCHW" else hwc
            return np.ascontiguousarray(out)[None]
        if cfg.layout == "NCHW":
            out = np.empty((1, c, h, w), np.float32)
            # One strided pass per plane: reads HWC, writes CHW, reorders channels for free.
            for dst, src in enumerate(self._channel_src[:c]):
                plane = out[0, dst]
                np.multiply(image[:, :, src], self._gain[dst], out=plane, dtype=np.float32)
                if self._bias[dst] != 0.0:
                    plane += self._bias[dst]
        else:
            hwc = image if cfg.color_order != "BGR" else image[:, :, ::-1]
            out = np.empty((1, h, w, c), np.float32)
            np.multiply(hwc, self._gain, out=out[0], dtype=np.float32)
            if not self._identity:
                out += self._bias
        return out.astype(np.float16) if cfg.dtype == "float16" else out

    def _plan(self, height: int, width: int) -> Transform:
        cfg = self.config
        if cfg.resize_mode == "keep_aspect":
            ratio = 1.0
            if cfg.max_side is not None and max(height, width) > cfg.max_side:
                ratio = cfg.max_side / max(height, width)
            m = cfg.multiple
            # Round each side to the nearest multiple (at least one), as PP-OCR's resize does.
            in_w = max(m, round(width * ratio / m) * m)
            in_h = max(m, round(height * ratio / m) * m)
            return Transform(width, height, in_w, in_h, in_w / width, in_h / height)
        assert cfg.size is not None  # guaranteed by PreprocessConfig's validator
        in_h, in_w = cfg.size
        if cfg.resize_mode == "stretch":
            return Transform(width, height, in_w, in_h, in_w / width, in_h / height)
        ratio = min(in_w / width, in_h / height)
        new_w = min(in_w, max(1, round(width * ratio)))
        new_h = min(in_h, max(1, round(height * ratio)))
        # Scale from the rounded size so to_source is exact at the image edges.
        sx, sy = new_w / width, new_h / height
        if cfg.resize_mode == "pad":  # anchored top-left, padding right and bottom
            return Transform(width, height, in_w, in_h, sx, sy)
        pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2  # letterbox: centred
        return Transform(width, height, in_w, in_h, sx, sy, float(pad_x), float(pad_y))
