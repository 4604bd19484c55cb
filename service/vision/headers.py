"""Picture dimensions read from headers alone: JPEG SOF, PNG IHDR, H.264 SPS.

Each reader looks at a few dozen bytes and returns (width, height), so a frame's size can
be checked against the server's pixel limit before any decoder allocates for it. A header
that cannot be read raises InvalidInputError.
"""

from __future__ import annotations

import struct

from protos.errors import InvalidInputError

try:  # the same libjpeg-turbo parser that later decodes the frame, so both see one size
    import simplejpeg
except ImportError:  # pragma: no cover - exercised only where simplejpeg is missing
    simplejpeg = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF markers (baseline, extended, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes, what: str = "jpeg frame") -> tuple[int, int]:
    """(width, height) from a JPEG's frame header; `what` names the picture in errors."""
    if simplejpeg is not None:
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError as exc:
            raise InvalidInputError(f"corrupt {what} ({len(data)} bytes): unreadable header ({exc})") from None
        return width, height
    return _jpeg_sof_size(data, what)  # pragma: no cover - exercised only where simplejpeg is missing


def _jpeg_sof_size(data: bytes, what: str) -> tuple[int, int]:
    pos = 2 if data.startswith(b"\xff\xd8") else -1
    while 0 <= pos and pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise InvalidInputError(f"corrupt {what} ({len(data)} bytes): no frame header (SOF) before the image data")


def png_size(data: bytes, what: str = "png frame") -> tuple[int, int]:
    """(width, height) from a PNG's IHDR, which the format requires to be the first chunk."""
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidInputError(f"{what} ({len(data)} bytes) does not start with the PNG signature")
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidInputError(f"corrupt {what} ({len(data)} bytes): the first chunk is not IHDR")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


# --------------------------------------------------------------------------- H.264 SPS

# Profiles whose SPS carries chroma format, bit depths and scaling matrices (H.264 7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_SPS_READ_BYTES = 4096


class _Bits:
    """Reads an RBSP (emulation-prevention bytes removed) bit by bit."""

    def __init__(self, rbsp: bytes) -> None:
        self._value = int.from_bytes(rbsp, "big")
        self._left = 8 * len(rbsp)

    def u(self, n: int) -> int:
        if n > self._left:
            raise ValueError("the SPS ends early")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:  # no 32-bit syntax element needs more
                raise ValueError("an exp-Golomb code is longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def h264_sps_size(nal: bytes) -> tuple[int, int]:
    """(width, height) of the coded picture an SPS NAL unit (header byte included) declares.

    The coded size is what the decoder allocates (cropping only hides some of it).
    """
    # Every field up to the size fits in a few kB even with scaling matrices; reading no further
    # keeps a padded "SPS" of megabytes cheap.
    bits = _Bits(nal[1:_SPS_READ_BYTES].replace(b"\x00\x00\x03", b"\x00\x00"))
    try:
        profile = bits.u(8)
        bits.u(16)  # constraint flags, level_idc
        bits.ue()  # seq_parameter_set_id
        if profile in _HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                bits.u(1)  # separate_colour_plane_flag
            bits.ue()  # bit_depth_luma_minus8
            bits.ue()  # bit_depth_chroma_minus8
            bits.u(1)  # qpprime_y_zero_transform_bypass_flag
            if bits.u(1):  # seq_scaling_matrix_present_flag
                for i in range(8 if chroma_format != 3 else 12):
                    if bits.u(1):
                        _skip_scaling_list(bits, 16 if i < 6 else 64)
        bits.ue()  # log2_max_frame_num_minus4
        poc_type = bits.ue()
        if poc_type == 0:
            bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
        elif poc_type == 1:
            bits.u(1)  # delta_pic_order_always_zero_flag
            bits.se()  # offset_for_non_ref_pic
            bits.se()  # offset_for_top_to_bottom_field
            for _ in range(bits.ue()):  # num_ref_frames_in_pic_order_cnt_cycle
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.u(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = bits.ue() + 1
        height_map_units = bits.ue() + 1
        frame_mbs_only = bits.u(1)
    except ValueError as exc:
        raise InvalidInputError(f"h264 sequence parameter set ({len(nal)} bytes) is unreadable: {exc}") from None
    return 16 * width_mbs, 16 * height_map_units * (2 - frame_mbs_only)


def h264_sps_units(data: bytes) -> list[bytes]:
    """The SPS NAL units (type 7) of an Annex B buffer, header byte first, start codes removed."""
    units = []
    start = data.find(b"\x00\x00\x01")
    while 0 <= start < len(data) - 3:
        begin = start + 3
        start = data.find(b"\x00\x00\x01", begin)
        if data[begin] & 0x1F == 7:
            units.append(data[begin : len(data) if start < 0 else start])
    return units
