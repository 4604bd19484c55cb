"""Picture sizes come from headers, and a picture over the pixel limit is refused before decoding."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from protos.errors import ErrorCode, InvalidInputError
from service.vision.decode import decode_image, make_decoder
from service.vision.headers import h264_sps_size, h264_sps_units, jpeg_size, png_size
from service.vision.limits import ImageTooLargeError, check_pixels
from tests.fixtures.memory import peak_growth
from tests.fixtures.vision.bombs import BitWriter, escape, h264_with_sps, jpeg_bomb, png_bomb, png_header
from tests.fixtures.vision.scenes import encode_jpeg

LIMIT = 4096 * 4096


def test_header_sizes_of_real_files() -> None:
    assert jpeg_size(encode_jpeg(np.zeros((48, 64, 3), np.uint8))) == (64, 48)
    assert jpeg_size(jpeg_bomb(20000, 19000)) == (20000, 19000)
    assert png_size(png_header(30000, 7)) == (30000, 7)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xd8\xff\xe0 not a header", "corrupt jpeg"),
        (b"GIF89a", "PNG signature"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dtEXt", "not IHDR"),
    ],
)
def test_unreadable_headers_are_invalid_argument(data, words) -> None:
    reader = jpeg_size if data.startswith(b"\xff\xd8") else png_size
    with pytest.raises(InvalidInputError, match=words):
        reader(data)


def test_check_pixels_names_dims_and_limit() -> None:
    check_pixels("frame", 4096, 4096, LIMIT)  # exactly at the limit is fine
    with pytest.raises(ImageTooLargeError) as caught:
        check_pixels("jpeg frame", 4097, 4096, LIMIT)
    assert caught.value.code is ErrorCode.RESOURCE_EXHAUSTED
    assert "jpeg frame declares 4097x4096" in str(caught.value) and str(LIMIT) in str(caught.value)
    with pytest.raises(InvalidInputError, match="empty picture"):
        check_pixels("png frame", 0, 10, LIMIT)


@pytest.mark.parametrize("bomb", [jpeg_bomb, png_bomb])
def test_bombs_are_refused_before_any_pixel_buffer(bomb) -> None:
    data = bomb(20000, 20000)  # 1.2 GB of RGB once decoded
    decoder = make_decoder("jpeg" if bomb is jpeg_bomb else "png", max_pixels=LIMIT)
    with peak_growth() as grown:
        with pytest.raises(ImageTooLargeError, match="20000x20000"):
            decoder.decode(data)
        with pytest.raises(ImageTooLargeError, match="image in input 'image'"):
            decode_image(data, LIMIT, "image in input 'image'")
    assert grown.mib < 64
    # The same bomb, small enough, decodes: the header reader and the decoder agree.
    assert decode_image(bomb(640, 480), LIMIT).shape == (480, 640, 3)


def test_raw_stream_over_the_limit_is_refused_when_it_opens() -> None:
    with pytest.raises(ImageTooLargeError, match="raw RGB frames declares 20000x20000"):
        make_decoder("raw", 20000, 20000, "RGB", max_pixels=LIMIT)
    make_decoder("raw", 4096, 4096, "NV12", max_pixels=LIMIT)


# --------------------------------------------------------------------------- H.264


def _x264(width: int, height: int, options: dict[str, str], pix_fmt: str = "yuv420p") -> bytes:
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = width, height, pix_fmt, Fraction(1, 25)
    enc.options = options
    frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24").reformat(format=pix_fmt)
    frame.pts = 0
    return b"".join(bytes(p) for p in [*enc.encode(frame), *enc.encode(None)])


@pytest.mark.parametrize(
    ("options", "pix_fmt", "profile", "coded"),
    [
        ({"preset": "ultrafast"}, "yuv420p", 66, (208, 112)),  # baseline
        ({"preset": "fast", "profile": "high"}, "yuv420p", 100, (208, 112)),
        ({"preset": "fast"}, "yuv444p", 244, (208, 112)),  # High 4:4:4: chroma_format_idc 3
        ({"preset": "fast", "x264-params": "interlaced=1"}, "yuv420p", 100, (208, 128)),  # field pairs
    ],
)
def test_sps_size_of_real_x264_streams(options, pix_fmt, profile, coded) -> None:
    data = _x264(200, 100, options, pix_fmt)
    (sps,) = h264_sps_units(data)
    assert sps[1] == profile and h264_sps_size(sps) == coded
    ctx = av.CodecContext.create("h264", "r")  # FFmpeg reads the same coded size
    assert len([*ctx.decode(av.Packet(data)), *ctx.decode(None)]) == 1
    assert (ctx.coded_width, ctx.coded_height) == coded


def _high_profile_sps(width_mbs: int, height_mbs: int) -> bytes:
    """A High-profile SPS with scaling matrices and pic_order_cnt_type 1: every skipped branch."""
    bits = BitWriter()
    bits.put(100, 8)
    bits.put(40, 16)  # constraint flags 0, level 4.0
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(1)  # chroma_format_idc 4:2:0
    bits.ue(2)  # bit_depth_luma_minus8
    bits.ue(2)  # bit_depth_chroma_minus8
    bits.put(0, 1)
    bits.put(1, 1)  # seq_scaling_matrix_present_flag
    for i in range(8):
        bits.put(1, 1)  # this list is present
        deltas = [3, -1, 7] + [0] * (13 if i < 6 else 61)
        if i == 7:
            deltas = [-8]  # next scale 0: the rest repeat the last scale, no more deltas
        for delta in deltas:
            bits.se(delta)
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(1)  # pic_order_cnt_type 1
    bits.put(0, 1)
    bits.se(-2)
    bits.se(5)
    bits.ue(2)  # two offsets in the cycle
    bits.se(1)
    bits.se(-1)
    bits.ue(4)  # max_num_ref_frames
    bits.put(0, 1)
    bits.ue(width_mbs - 1)
    bits.ue(height_mbs - 1)
    bits.put(1, 1)  # frame_mbs_only_flag
    return b"\x67" + escape(bits.rbsp())


def test_sps_with_scaling_matrices_and_poc_type_1() -> None:
    assert h264_sps_size(_high_profile_sps(1000, 1000)) == (16000, 16000)
    assert h264_sps_size(_high_profile_sps(1, 1)) == (16, 16)


@pytest.mark.parametrize("nal", [b"\x67", b"\x67\x64\x00", b"\x67\x42\x00\x1e" + b"\x00" * 8])
def test_truncated_or_garbage_sps_is_invalid_argument(nal) -> None:
    with pytest.raises(InvalidInputError, match="sequence parameter set"):
        h264_sps_size(nal)


def test_h264_sps_over_the_limit_never_reaches_ffmpeg() -> None:
    decoder = make_decoder("h264", max_pixels=LIMIT)
    bomb = h264_with_sps(16000, 16000)
    with peak_growth() as grown, pytest.raises(ImageTooLargeError, match="parameter set declares 16000x16000"):
        decoder.decode(bomb[0], tag=0)
    assert grown.mib < 64
    # The decoder is still usable: a stream whose SPS fits decodes on the same decoder.
    pictures = [p for unit in h264_with_sps(64, 64) for p in decoder.decode(unit)]
    assert [p.image.shape for p in pictures] == [(64, 64, 3)] * 2
