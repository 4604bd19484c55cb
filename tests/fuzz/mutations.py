"""Seeded mutations of protobuf bodies: what an attacker's corpus does to a valid message.

Every function takes a random.Random, so a seed reproduces a case exactly. The length-field
mutation walks the wire format itself (top level and nested messages) to find the varint
lengths of length-delimited fields, which bit flips rarely hit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

MAX_DEPTH = 8
# Lengths an attacker tries: off by one, zero, past the end, 32- and 64-bit edges.
_EVIL_LENGTHS = (0, 1, 127, 128, 2**31 - 1, 2**31, 2**32 - 1, 2**32 + 5, 2**63 - 1, 2**64 - 1)
# A field key with a wire type protobuf rejects (6, 7), a group start without its end, an
# 11-byte varint, and a key of field number 0.
_BAD_WIRE = (b"\x0e", b"\x0f", b"\x0b", b"\x80" * 10 + b"\x01", b"\x00", b"\x02\xff\xff\xff\xff\x0f")


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def length_fields(data: bytes, depth: int = 0) -> list[tuple[int, int, int]]:
    """(offset, size, value) of the length varint of every length-delimited field that parses,
    in nested messages too (a bytes payload that happens to parse is included: harmless)."""
    found: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(data):
        key = _read_varint(data, pos)
        if key is None:
            break
        tag, pos = key
        wire = tag & 7
        if wire == 0:
            skipped = _read_varint(data, pos)
            if skipped is None:
                break
            pos = skipped[1]
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length = _read_varint(data, pos)
            if length is None or length[1] + length[0] > len(data):
                break
            size, start = length[1] - pos, length[1]
            found.append((pos, size, length[0]))
            if depth < MAX_DEPTH and length[0]:
                payload = data[start : start + length[0]]
                found.extend((start + o, s, v) for o, s, v in length_fields(payload, depth + 1))
            pos = start + length[0]
        else:
            break
    return found


def flip_bits(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    if not data:
        return random_bytes(rng, data, donors)
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    return data[: rng.randrange(len(data))] if data else random_bytes(rng, data, donors)


def corrupt_length(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    fields = length_fields(data)
    if not fields:
        return flip_bits(rng, data, donors)
    offset, size, value = rng.choice(fields)
    new = rng.choice([*_EVIL_LENGTHS, value + 1, max(value - 1, 0), value + rng.randint(2, 4096)])
    return data[:offset] + encode_varint(new) + data[offset + size :]


def splice(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    donor = rng.choice(donors) or bytes(rng.randrange(256) for _ in range(8))
    start = rng.randrange(len(donor))
    chunk = donor[start : start + rng.randint(1, 64)]
    at = rng.randint(0, len(data))
    replaced = rng.randint(0, min(len(chunk), len(data) - at)) if rng.random() < 0.5 else 0
    return data[:at] + chunk + data[at + replaced :]


def bad_wire(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    at = rng.choice([0, len(data), rng.randint(0, len(data))])
    return data[:at] + rng.choice(_BAD_WIRE) + data[at:]


def random_bytes(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    return rng.randbytes(rng.randint(1, 256))


Mutation = Callable[[random.Random, bytes, Sequence[bytes]], bytes]
MUTATIONS: dict[str, Mutation] = {
    "flip_bits": flip_bits,
    "truncate": truncate,
    "corrupt_length": corrupt_length,
    "splice": splice,
    "bad_wire": bad_wire,
    "random_bytes": random_bytes,
}


def mutate(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> tuple[str, bytes]:
    """(name of the mutation(s), mutated body); now and then two are stacked."""
    names = [rng.choice(list(MUTATIONS))]
    if rng.random() < 0.25:
        names.append(rng.choice(list(MUTATIONS)))
    for name in names:
        data = MUTATIONS[name](rng, data, donors)
    return "+".join(names), data
