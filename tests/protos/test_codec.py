"""protos.codec: raw and typed tensors both ways, and every error names the tensor."""

from __future__ import annotations

import numpy as np
import pytest

from protos import codec
from protos.errors import ErrorCode, InvalidInputError
from protos.limits import LimitExceededError, Limits
from protos.switchyard.v1 import predict_pb2 as pb

ARRAYS = {
    "BOOL": np.array([[True, False]]),
    "UINT8": np.array([[0, 255]], np.uint8),
    "UINT16": np.array([[0, 65535]], np.uint16),
    "UINT32": np.array([[0, 2**32 - 1]], np.uint32),
    "UINT64": np.array([[0, 2**64 - 1]], np.uint64),
    "INT8": np.array([[-128, 127]], np.int8),
    "INT16": np.array([[-(2**15), 2**15 - 1]], np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1]], np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1]], np.int64),
    "FP16": np.array([[0.5, -65504]], np.float16),
    "FP32": np.array([[1.25, -3e38]], np.float32),
    "FP64": np.array([[1e-300, 2.5]], np.float64),
}


@pytest.mark.parametrize("datatype", sorted(ARRAYS))
def test_raw_round_trip_is_exact(datatype):
    array = ARRAYS[datatype]
    raw = codec.encode_raw(array)
    back = codec.decode_raw("t", datatype, array.shape, raw)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_raw_decode_is_zero_copy():
    raw = np.arange(6, dtype=np.float32).tobytes()
    array = codec.decode_raw("t", "FP32", [2, 3], raw)
    assert not array.flags.owndata  # a view on the message's bytes


@pytest.mark.parametrize("datatype", sorted(ARRAYS))
def test_typed_round_trip(datatype):
    array = ARRAYS[datatype]
    contents = pb.TensorContents()
    codec.fill_typed(contents, array, datatype)
    back = codec.decode_typed("t", datatype, array.shape, contents)
    np.testing.assert_array_equal(back, array)


def test_bytes_raw_is_length_prefixed():
    array = np.array([b"ab", b"", b"xyz"], dtype=object)
    raw = codec.encode_raw(array)
    assert raw == b"\x02\0\0\0ab\x00\0\0\0\x03\0\0\0xyz"
    assert list(codec.decode_raw("s", "BYTES", [3], raw)) == [b"ab", b"", b"xyz"]


def test_bf16_travels_raw_as_uint16_words():
    words = np.array([0x3F80, 0xC000], np.uint16)  # 1.0, -2.0 in bfloat16
    back = codec.decode_raw("b", "BF16", [2], words.tobytes())
    np.testing.assert_array_equal(back, words)
    with pytest.raises(InvalidInputError, match="raw"):
        codec.decode_typed("b", "BF16", [2], pb.TensorContents())


@pytest.mark.parametrize(
    "call,fragments",
    [
        (lambda: codec.decode_raw("img", "FP32", [2, 2], b"\0" * 15), ["'img'", "15 bytes", "expected 16"]),
        (lambda: codec.decode_raw("img", "FP32", [-2, 2], b""), ["'img'", "negative"]),
        (lambda: codec.decode_raw("img", "FLOAT32", [1], b"\0" * 4), ["'img'", "FLOAT32"]),
        (lambda: codec.decode_raw("s", "BYTES", [2], b"\x01\0\0\0a\x05\0\0"), ["'s'", "element 1", "length prefix"]),
        (lambda: codec.decode_raw("s", "BYTES", [3], b"\0" * 11), ["'s'", "3 BYTES elements", "at most 2"]),
        (lambda: codec.decode_raw("s", "BYTES", [1], b"\x09\0\0\0abc"), ["'s'", "declares 9 bytes"]),
        (lambda: codec.decode_raw("s", "BYTES", [1], b"\x01\0\0\0ab"), ["'s'", "left over"]),
        (
            lambda: codec.decode_typed("n", "INT32", [2], pb.TensorContents(int_contents=[1])),
            ["'n'", "1 elements", "expected 2"],
        ),
        (
            lambda: codec.decode_typed("n", "INT32", [1], pb.TensorContents(fp32_contents=[1])),
            ["'n'", "int_contents", "fp32_contents"],
        ),
        (
            lambda: codec.decode_typed("n", "UINT8", [1], pb.TensorContents(uint_contents=[300])),
            ["'n'", "out of range"],
        ),
    ],
)
def test_errors_name_the_tensor(call, fragments):
    with pytest.raises(InvalidInputError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_bf16_outputs_are_labelled_by_the_model_signature_on_both_protocols():
    from backends.base import ModelSignature, TensorSpec
    from protos.inference import grpc_service_pb2 as oip
    from service.oip import messages as oip_messages
    from service.predict import messages as predict_messages

    signature = ModelSignature(inputs=(), outputs=(TensorSpec("y", "BF16", (2,)), TensorSpec("z", "FP32", (1,))))
    outputs = {"y": np.array([0x3F80, 0xC000], np.uint16), "z": np.array([1.5], np.float32)}
    reply = predict_messages.encode_response(pb.PredictRequest(model="m"), 1, outputs, raw=False, signature=signature)
    y, z = reply.outputs
    assert (y.datatype, y.raw_contents) == ("BF16", outputs["y"].tobytes())  # BF16 has no typed field
    assert (z.datatype, list(z.contents.fp32_contents)) == ("FP32", [1.5])
    unlabelled = predict_messages.encode_response(pb.PredictRequest(model="m"), 1, outputs, raw=True)
    assert unlabelled.outputs[0].datatype == "UINT16"  # without a signature the dtype speaks
    triton = oip_messages.encode_response(oip.ModelInferRequest(model_name="m"), 1, signature, outputs, raw=False)
    assert [t.datatype for t in triton.outputs] == ["BF16", "FP32"]


@pytest.mark.parametrize(
    "shape,raw,fragments",
    [
        ([1 << 62], b"", ["'big'", "4611686018427387904 elements", "268435456", "max_tensor_elements"]),
        ([1 << 31, 1 << 31], b"\0" * 8, ["'big'", "declares 4611686018427387904", "max_tensor_elements"]),
        ([0, 1 << 62], b"", ["'big'", "zero dimensions as 1", "max_tensor_elements"]),
        ([1] * 100, b"\0" * 4, ["'big'", "rank 100", "limit of 16", "max_tensor_rank"]),
    ],
)
def test_limits_are_resource_exhausted_naming_value_limit_and_setting(shape, raw, fragments):
    with pytest.raises(LimitExceededError) as info:
        codec.decode_raw("big", "FP32", shape, raw)
    assert info.value.code is ErrorCode.RESOURCE_EXHAUSTED
    for fragment in fragments:
        assert fragment in info.value.message


def test_a_bytes_count_the_contents_cannot_hold_is_refused_before_any_array():
    # 2^27 elements declared in 5 bytes: each element needs a 4-byte prefix, so at most 1 fits.
    with pytest.raises(InvalidInputError, match=r"134217728 BYTES elements, but 5 bytes .* at most 1"):
        codec.decode_raw("s", "BYTES", [1 << 27], b"\x01\0\0\0a")
    with pytest.raises(LimitExceededError, match="max_bytes_elements"):
        codec.decode_raw("s", "BYTES", [3], b"\0" * 12, Limits(max_bytes_elements=2))


def test_checked_tensors_say_what_they_cost_and_how_much_work_they_are():
    raw = np.arange(6, dtype=np.float32).tobytes()
    fixed = codec.check_raw("x", "FP32", [2, 3], raw)
    assert (fixed.elements, fixed.work, fixed.nbytes) == (6, 0, 2 * len(raw))  # a view: no element work
    strings = codec.check_raw("s", "BYTES", [2], codec.encode_raw(np.array([b"ab", b"c"], dtype=object)))
    assert strings.work == 2 and strings.nbytes >= 2 * 8
    typed = codec.check_typed("n", "INT8", [3], pb.TensorContents(int_contents=[1, 2, 3]))
    assert typed.work == 3 and typed.nbytes == 3 * (2 * 4 + 1)
    np.testing.assert_array_equal(codec.to_array(typed), np.array([1, 2, 3], np.int8))


def test_echoed_names_and_datatypes_are_clipped():
    with pytest.raises(InvalidInputError) as info:
        codec.decode_raw("n" * 100_000, "X" * 100_000, [1], b"")
    message = info.value.message
    assert len(message) < 400 and "more characters" in message
