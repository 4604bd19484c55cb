"""End to end on the real PP-OCRv4 detector: drawn words come back where they were drawn,
and an H.264 stream of the same frames gives the same detections as JPEGs."""

from __future__ import annotations

import numpy as np
import pytest

from service.vision.config import DbTextConfig, PreprocessConfig
from service.vision.decode import make_decoder
from service.vision.postprocess import Detection, make_postprocessor
from service.vision.preprocess import Preprocessor
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg, text_scene

# PaddleOCR's detector preprocessing: BGR, ImageNet mean/std on [0, 1], sides multiple of 32.
PPOCR_PRE = dict(color_order="BGR", scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _detect(session, pre: Preprocessor, image: np.ndarray) -> list[Detection]:
    tensor, transform = pre(image)
    (prob,) = session.run(None, {"x": tensor})
    return make_postprocessor(DbTextConfig(kind="db_text"))({"prob": prob}, transform)


def _assert_match(dets: list[Detection], truth: list, min_iou: float) -> None:
    assert len(dets) == len(truth), f"expected {len(truth)} text boxes, got {[d.box for d in dets]}"
    for box in truth:
        best = max(dets, key=lambda d: _iou(d.box, box))
        assert _iou(best.box, box) >= min_iou, (box, best.box)
        assert best.score >= 0.6 and best.label == "text"


@pytest.mark.parametrize(
    "pre_config",
    [
        PreprocessConfig(resize_mode="keep_aspect", multiple=32, **PPOCR_PRE),  # native 640x480
        PreprocessConfig(resize_mode="keep_aspect", max_side=480, multiple=32, **PPOCR_PRE),  # 480x352
        PreprocessConfig(resize_mode="letterbox", size=(512, 512), pad_value=0, **PPOCR_PRE),
    ],
    ids=["native", "reduced", "letterbox"],
)
def test_drawn_words_are_found_where_they_were_drawn(text_detector_session, pre_config) -> None:
    image, truth = text_scene()
    dets = _detect(text_detector_session, Preprocessor(pre_config), image)
    # Pillow's textbbox is the ink box; DB's unclipped boxes sit a few pixels outside it.
    _assert_match(dets, truth, min_iou=0.6)
    for det in dets:
        box = max(truth, key=lambda t: _iou(det.box, t))
        assert det.box[0] <= box[0] + 4 and det.box[2] >= box[2] - 4  # covers the word's width


def test_h264_stream_and_jpeg_frames_give_the_same_detections(text_detector_session) -> None:
    frames = [text_scene(shift=(12 * i, 6 * i))[0] for i in range(4)]
    pre = Preprocessor(PreprocessConfig(resize_mode="keep_aspect", max_side=480, multiple=32, **PPOCR_PRE))
    jpeg = make_decoder("jpeg")
    via_jpeg = {f.tag: f.image for i, fr in enumerate(frames) for f in jpeg.decode(encode_jpeg(fr), tag=i)}
    h264 = make_decoder("h264")
    via_h264 = {f.tag: f.image for data, pts in encode_h264(frames, gop=4, bframes=2) for f in h264.decode(data, pts)}
    via_h264.update({f.tag: f.image for f in h264.flush()})
    h264.close()
    assert sorted(via_h264) == sorted(via_jpeg) == [0, 1, 2, 3]
    for tag in range(4):
        a = _detect(text_detector_session, pre, via_jpeg[tag])
        b = _detect(text_detector_session, pre, via_h264[tag])
        truth = text_scene(shift=(12 * tag, 6 * tag))[1]
        _assert_match(a, truth, min_iou=0.6)
        assert len(a) == len(b)
        for det in a:
            twin = max(b, key=lambda d: _iou(d.box, det.box))
            assert _iou(twin.box, det.box) > 0.85 and abs(twin.score - det.score) < 0.1
