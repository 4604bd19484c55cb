"""The mutators do what they say: the same seed gives the same case, length corruption hits
real length fields (nested ones too), and the cases include bodies that do not decode."""

from __future__ import annotations

import random

from protos.switchyard.v1 import predict_pb2 as pb
from tests.fuzz.mutations import MUTATIONS, corrupt_length, encode_varint, length_fields, mutate

REQUEST = pb.PredictRequest(
    model="add", inputs=[pb.Tensor(name="a", datatype="FP32", shape=[1, 4], raw_contents=b"\0" * 16)]
).SerializeToString()


def test_length_fields_finds_top_level_and_nested_lengths():
    fields = length_fields(REQUEST)
    values = sorted(value for _, _, value in fields)
    # model "add" (3), the tensor (nested), its name "a" (1), datatype "FP32" (4), raw_contents (16)
    assert {1, 3, 4, 16} <= set(values)
    tensor_length = len(pb.Tensor(name="a", datatype="FP32", shape=[1, 4], raw_contents=b"\0" * 16).SerializeToString())
    assert tensor_length in values
    for offset, size, value in fields:
        assert REQUEST[offset : offset + size] == encode_varint(value)


def test_corrupt_length_rewrites_exactly_one_length_varint():
    rng = random.Random(3)
    fields = length_fields(REQUEST)
    for _ in range(50):
        mutated = corrupt_length(rng, REQUEST, [])
        assert any(_rewrites(mutated, offset, size) for offset, size, _ in fields), mutated.hex()


def _rewrites(mutated: bytes, offset: int, size: int) -> bool:
    """Whether `mutated` is REQUEST with the varint at offset..offset+size replaced by one varint."""
    tail = REQUEST[offset + size :]
    if not (mutated.startswith(REQUEST[:offset]) and mutated.endswith(tail)):
        return False
    middle = mutated[offset : len(mutated) - len(tail)]
    return bool(middle) and all(b & 0x80 for b in middle[:-1]) and not middle[-1] & 0x80


def test_same_seed_same_cases_and_some_do_not_decode():
    def cases(seed: int) -> list[tuple[str, bytes]]:
        rng = random.Random(seed)
        return [mutate(rng, REQUEST, [REQUEST]) for _ in range(200)]

    first = cases(7)
    assert first == cases(7) and first != cases(8)
    assert {name for names, _ in first for name in names.split("+")} == set(MUTATIONS)
    undecodable = 0
    for _, body in first:
        try:
            pb.PredictRequest.FromString(body)
        except Exception:
            undecodable += 1
    assert 0 < undecodable < len(first)
