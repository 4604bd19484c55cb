"""Decoders: every encoding yields RGB uint8; bad frames fail alone; H.264 keeps state."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from protos.errors import InvalidInputError
from service.vision.decode import H264Decoder, decode_image, h264_nal_types, make_decoder
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg, text_scene


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return text_scene(320, 240)[0]


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_jpeg_decodes_to_rgb(scene: np.ndarray) -> None:
    (frame,) = make_decoder("jpeg").decode(encode_jpeg(scene, quality=95), tag=7)
    assert frame.tag == 7 and frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
    assert np.abs(frame.image.astype(int) - scene).mean() < 2.0
    # Channel order: a pure red patch stays red (not blue).
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    assert make_decoder("jpeg").decode(encode_jpeg(red))[0].image[8, 8].argmax() == 0


def test_corrupt_jpeg_fails_that_frame_only(scene: np.ndarray) -> None:
    dec = make_decoder("jpeg")
    good = encode_jpeg(scene)
    with pytest.raises(InvalidInputError, match="corrupt jpeg"):
        dec.decode(good[: len(good) // 2])
    with pytest.raises(InvalidInputError, match="corrupt jpeg"):
        dec.decode(b"\xff\xd8 not really a jpeg")
    assert dec.decode(good)[0].image.shape == (240, 320, 3)


def test_png_is_lossless_and_checks_signature(scene: np.ndarray) -> None:
    dec = make_decoder("png")
    np.testing.assert_array_equal(dec.decode(_png(scene))[0].image, scene)
    with pytest.raises(InvalidInputError, match="signature"):
        dec.decode(b"GIF89a")
    with pytest.raises(InvalidInputError, match="corrupt png"):
        dec.decode(_png(scene)[:100])


def test_raw_formats_all_become_rgb(scene: np.ndarray) -> None:
    h, w = scene.shape[:2]
    rgb = make_decoder("raw", w, h, "RGB").decode(scene.tobytes())[0].image
    bgr = make_decoder("raw", w, h, "BGR").decode(scene[:, :, ::-1].tobytes())[0].image
    np.testing.assert_array_equal(rgb, scene)
    np.testing.assert_array_equal(bgr, scene)
    gray = scene[:, :, 1].copy()
    out = make_decoder("raw", w, h, "GRAY").decode(gray.tobytes())[0].image
    assert out.shape == (h, w, 3) and (out[:, :, 2] == gray).all()


def test_raw_nv12_matches_the_source(scene: np.ndarray) -> None:
    h, w = scene.shape[:2]
    i420 = cv2.cvtColor(scene, cv2.COLOR_RGB2YUV_I420)  # Y, then U plane, then V plane
    uv = i420[h:].reshape(2, h // 2 * w // 2)
    nv12 = np.concatenate([i420[:h].ravel(), np.stack([uv[0], uv[1]], axis=1).ravel()])
    out = make_decoder("raw", w, h, "NV12").decode(nv12.tobytes())[0].image
    assert np.abs(out.astype(int) - scene).mean() < 4.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("raw", 4, 4, "YUYV"), "pixel_format"),
        (("raw", 5, 4, "NV12"), "even"),
        (("raw", None, None, None), "width, height and pixel_format"),
        (("webp",), "unknown frame encoding 'webp'"),
    ],
)
def test_factory_rejects_bad_declarations(args: tuple, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make_decoder(*args)


def test_raw_wrong_length_says_what_it_expected() -> None:
    with pytest.raises(InvalidInputError, match="must be 48 bytes, got 47"):
        make_decoder("raw", 4, 4, "RGB").decode(b"\0" * 47)


def test_decode_image_sniffs_jpeg_and_png(scene: np.ndarray) -> None:
    assert decode_image(encode_jpeg(scene)).shape == (240, 320, 3)
    np.testing.assert_array_equal(decode_image(_png(scene)), scene)
    with pytest.raises(InvalidInputError, match="neither JPEG nor PNG"):
        decode_image(b"BM....")


# ---------------------------------------------------------------- H.264


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[tuple[bytes, int]]]:
    frames = [text_scene(320, 240, shift=(6 * i, 3 * i))[0] for i in range(8)]
    return frames, encode_h264(frames, gop=4)


def test_h264_frames_come_back_in_order_with_tags(clip) -> None:
    frames, packets = clip
    dec = make_decoder("h264")
    out = [f for data, pts in packets for f in dec.decode(data, tag=pts)] + dec.flush()
    assert [f.tag for f in out] == list(range(8))
    for f in out:
        assert f.image.shape == (240, 320, 3)
        assert np.abs(f.image.astype(int) - frames[f.tag]).mean() < 3.0


def test_h264_b_frames_are_reordered_and_tags_follow_pictures() -> None:
    frames = [text_scene(320, 240, shift=(10 * i, 0))[0] for i in range(7)]
    packets = encode_h264(frames, gop=7, bframes=2)
    dec = make_decoder("h264")
    out = [f for data, pts in packets for f in dec.decode(data, tag=pts)] + dec.flush()
    assert [f.tag for f in out] == list(range(7))  # presentation order, tagged by pts
    for f in out:
        assert np.abs(f.image.astype(int) - frames[f.tag]).mean() < 3.0


def test_h264_rejects_frames_before_the_first_keyframe(clip) -> None:
    _, packets = clip
    dec = make_decoder("h264")
    for data, pts in packets[1:4]:  # P-frames of the first GOP
        with pytest.raises(InvalidInputError, match=f"frame {pts} arrived before the stream's first keyframe"):
            dec.decode(data, tag=pts)
    out = [f for data, pts in packets[4:] for f in dec.decode(data, tag=pts)] + dec.flush()
    assert [f.tag for f in out] == [4, 5, 6, 7]


def test_h264_truncated_packet_fails_that_frame_and_decoding_continues(clip) -> None:
    _, packets = clip
    dec = make_decoder("h264")
    tags = []
    for i, (data, pts) in enumerate(packets):
        if i == 2:
            with pytest.raises(InvalidInputError, match="frame 2 is corrupt"):
                dec.decode(data[: len(data) // 2], tag=pts)
            continue
        tags += [f.tag for f in dec.decode(data, tag=pts)]
    assert tags == [0, 1, 3, 4, 5, 6, 7]


def test_h264_requires_annex_b() -> None:
    with pytest.raises(InvalidInputError, match="Annex B"):
        make_decoder("h264").decode(b"\x00\x00\x00\x10" + b"\x65" * 16)


def test_h264_parameter_sets_alone_are_accepted(clip) -> None:
    _, packets = clip
    first = packets[0][0]
    idr_at = first.find(b"\x00\x00\x01\x65") - 1  # 4-byte start code before the IDR slice
    dec = make_decoder("h264")
    assert dec.decode(first[:idr_at], tag=0) == []  # SPS/PPS/SEI only: nothing to show yet
    assert [f.tag for f in dec.decode(first[idr_at:], tag=0)] == [0]


def test_h264_close_frees_and_refuses_more(clip) -> None:
    _, packets = clip
    dec = make_decoder("h264")
    assert isinstance(dec, H264Decoder)
    dec.decode(packets[0][0])
    dec.close()
    assert dec._ctx is None  # the FFmpeg context is released now, not at garbage collection
    with pytest.raises(InvalidInputError, match="closed"):
        dec.decode(packets[1][0])
    assert dec.flush() == []


def test_nal_types_parses_annex_b(clip) -> None:
    _, packets = clip
    assert 5 in h264_nal_types(packets[0][0]) and 7 in h264_nal_types(packets[0][0])
    assert 5 not in h264_nal_types(packets[1][0])
    assert h264_nal_types(b"no start code") == []


def test_grayscale_jpeg_becomes_three_channels() -> None:
    import simplejpeg

    ramp = np.ascontiguousarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))[:, :, None])
    (frame,) = make_decoder("jpeg").decode(simplejpeg.encode_jpeg(ramp, quality=95, colorspace="GRAY"))
    assert frame.image.shape == (16, 64, 3)
    assert (frame.image[:, :, 0] == frame.image[:, :, 2]).all()
    assert np.abs(frame.image[:, :, 1].astype(int) - ramp[:, :, 0]).max() <= 4
