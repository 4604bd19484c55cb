"""Preprocessor geometry, normalisation and layouts, checked against plain formulas."""

from __future__ import annotations

import numpy as np
import pytest

from protos.errors import InvalidInputError
from service.vision.config import PreprocessConfig
from service.vision.preprocess import Preprocessor, Transform

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _image(h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_identity_size_normalises_like_the_reference_formula() -> None:
    img = _image()
    cfg = PreprocessConfig(size=(48, 64), color_order="BGR", scale=1 / 255, mean=MEAN, std=STD)
    tensor, tf = Preprocessor(cfg)(img)
    expected = ((img[:, :, ::-1].astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)[None]
    assert tensor.shape == (1, 3, 48, 64) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor, expected, atol=1e-5)
    assert (tf.scale_x, tf.scale_y, tf.pad_x, tf.pad_y) == (1.0, 1.0, 0.0, 0.0)


def test_nhwc_rgb_and_nchw_agree() -> None:
    img = _image()
    common = dict(size=(48, 64), scale=1 / 255, mean=MEAN, std=STD)
    nchw, _ = Preprocessor(PreprocessConfig(**common))(img)
    nhwc, _ = Preprocessor(PreprocessConfig(layout="NHWC", **common))(img)
    assert nhwc.shape == (1, 48, 64, 3)
    np.testing.assert_allclose(nhwc, nchw.transpose(0, 2, 3, 1), atol=1e-6)


def test_uint8_and_float16_outputs() -> None:
    img = _image()
    u8, _ = Preprocessor(PreprocessConfig(size=(48, 64), dtype="uint8", color_order="BGR"))(img)
    assert u8.dtype == np.uint8 and u8.flags.c_contiguous
    np.testing.assert_array_equal(u8[0], img[:, :, ::-1].transpose(2, 0, 1))
    f16, _ = Preprocessor(PreprocessConfig(size=(48, 64), dtype="float16", scale=1 / 255))(img)
    assert f16.dtype == np.float16
    np.testing.assert_allclose(f16[0, 0].astype(np.float32), img[:, :, 0] / 255, atol=1e-3)


def test_gray_has_one_channel() -> None:
    tensor, _ = Preprocessor(PreprocessConfig(size=(24, 32), color_order="GRAY", mean=(0.5,)))(_image())
    assert tensor.shape == (1, 1, 24, 32)


def test_stretch_scales_each_axis() -> None:
    _, tf = Preprocessor(PreprocessConfig(size=(100, 100)))(_image(50, 200))
    assert (tf.scale_x, tf.scale_y) == (0.5, 2.0)
    np.testing.assert_allclose(tf.to_source(np.array([[100.0, 100.0]])), [[200.0, 50.0]])


def test_letterbox_centres_and_maps_back() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 90:110] = 255  # a white square in the middle of the source
    cfg = PreprocessConfig(resize_mode="letterbox", size=(128, 128), pad_value=114, dtype="uint8", layout="NHWC")
    tensor, tf = Preprocessor(cfg)(img)
    assert (tf.scale_x, tf.pad_x, tf.pad_y) == (0.64, 0.0, 32.0)
    assert tensor[0, 0, 0, 0] == 114 and tensor[0, 127, 0, 0] == 114  # padding above and below
    ys, xs = np.nonzero(tensor[0, :, :, 0] > 200)
    corners = tf.to_source(np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]], np.float32))
    np.testing.assert_allclose(corners, [[90, 40], [110, 60]], atol=2.0)


def test_pad_anchors_top_left() -> None:
    tensor, tf = Preprocessor(PreprocessConfig(resize_mode="pad", size=(64, 64), pad_value=7, dtype="uint8"))(
        _image(32, 64)
    )
    assert (tf.pad_x, tf.pad_y, tf.scale_x) == (0.0, 0.0, 1.0)
    assert (tensor[0, :, 32:, :] == 7).all() and not (tensor[0, :, :32, :] == 7).all()


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [
        ((480, 640), None, (480, 640)),
        ((480, 640), 480, (352, 480)),
        ((100, 50), 960, (96, 64)),
        ((10, 10), None, (32, 32)),
    ],
)
def test_keep_aspect_rounds_to_multiple(shape: tuple, max_side: int | None, expected: tuple) -> None:
    pre = Preprocessor(PreprocessConfig(resize_mode="keep_aspect", max_side=max_side, multiple=32))
    tensor, tf = pre(_image(*shape))
    assert tensor.shape[2:] == expected
    assert (tf.input_height, tf.input_width) == expected


def test_plan_is_cached_per_source_size() -> None:
    pre = Preprocessor(PreprocessConfig(size=(32, 32)))
    _, a = pre(_image())
    _, b = pre(_image())
    assert a is b


def test_transform_clips_to_the_source_frame() -> None:
    tf = Transform(100, 50, 64, 64, 0.64, 0.64, 0.0, 16.0)
    np.testing.assert_allclose(tf.to_source(np.array([[-5.0, 0.0], [64.0, 64.0]])), [[0, 0], [100, 50]])
    np.testing.assert_allclose(tf.boxes_to_source(np.array([[0, 16, 32, 32]])), [[0, 0, 50, 25]])


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)]
)
def test_rejects_non_rgb_uint8(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match="RGB uint8"):
        Preprocessor(PreprocessConfig(size=(8, 8)))(bad)
