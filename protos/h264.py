"""H.264 Annex B framing, as StreamVideo carries it: which NAL units an access unit holds.

Shared by the server (which pictures a message carries) and the video client (where a
resumed stream must restart decoding: the last keyframe and its parameter sets).
"""

from __future__ import annotations

__all__ = ["IDR", "has_keyframe", "nal_types", "parameter_sets_only"]

IDR = 5  # a slice of an instantaneous decoder refresh picture: decoding may start here


def nal_types(data: bytes) -> list[int]:
    """NAL unit types in an Annex B buffer (5 = IDR slice, 1 = non-IDR, 7/8 = SPS/PPS)."""
    types = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(data):
        types.append(data[pos + 3] & 0x1F)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types


def parameter_sets_only(data: bytes) -> bool:
    """True for a message without a picture (SPS/PPS/SEI only): the server sends it no reply."""
    types = nal_types(data)
    return bool(types) and not any(1 <= t <= 5 for t in types)


def has_keyframe(data: bytes) -> bool:
    return IDR in nal_types(data)
