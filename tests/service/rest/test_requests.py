"""JSON (+ binary) bodies -> ModelInferRequest: what becomes typed, what raw, and what is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from protos import codec
from protos.errors import InvalidInputError
from service.rest.binary import BinaryParts, join_body, split_body
from service.rest.errors import RestError
from service.rest.requests import infer_request, parse_json


def convert(document: dict, binary: bytes = b""):
    return infer_request(document, BinaryParts(memoryview(binary)), "m", "2")


def tensor(name="x", datatype="FP32", shape=(1, 3), **rest) -> dict:
    return {"name": name, "datatype": datatype, "shape": list(shape), **rest}


def test_json_data_becomes_typed_contents_and_nested_data_is_flattened():
    request, layout = convert(
        {"id": "r1", "inputs": [tensor(data=[[1, 2.5, 3]]), tensor("s", "BYTES", (2,), data=["a", "é"])]}
    )
    assert (request.model_name, request.model_version, request.id) == ("m", "2", "r1")
    assert not request.raw_input_contents
    assert list(request.inputs[0].contents.fp32_contents) == [1.0, 2.5, 3.0]
    assert list(request.inputs[1].contents.bytes_contents) == [b"a", "é".encode()]
    assert not layout.binary("anything")


def test_a_binary_input_makes_every_input_raw_in_order():
    a = np.arange(3, dtype=np.float32).reshape(1, 3)
    request, _ = convert(
        {"inputs": [tensor("b", "INT32", data=[1, 2, 3]), tensor("a", parameters={"binary_data_size": 12})]},
        a.tobytes(),
    )
    assert [t.name for t in request.inputs] == ["b", "a"]
    assert request.raw_input_contents[0] == np.array([1, 2, 3], "<i4").tobytes()
    assert request.raw_input_contents[1] == a.tobytes()
    assert not request.inputs[1].parameters  # binary_data_size is HTTP's, not passed on


def test_fp16_json_data_goes_raw_since_the_protocol_has_no_typed_fp16():
    request, _ = convert({"inputs": [tensor(datatype="FP16", data=[0.5, 1, 2])]})
    assert request.raw_input_contents[0] == np.array([0.5, 1, 2], np.float16).tobytes()


def test_reply_layout_per_output_wins_over_the_request_default():
    request, layout = convert(
        {
            "parameters": {"binary_data_output": True, "priority": 2},
            "inputs": [tensor(data=[1, 2, 3])],
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}, {"name": "z"}],
        }
    )
    assert layout.binary("z") and not layout.binary("y")
    assert [o.name for o in request.outputs] == ["y", "z"] and not request.outputs[0].parameters
    assert request.parameters["priority"].int64_param == 2 and "binary_data_output" not in request.parameters


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "request body must be a JSON object"),
        ({"inputs": {}}, "inputs must be a JSON array"),
        ({"inputs": [tensor(shape=["1"], data=[])]}, "tensor 'x': shape must be a list of integers"),
        ({"inputs": [tensor(data=["a", "b", "c"])]}, "tensor 'x': data holds a value that is not FP32"),
        ({"inputs": [tensor("i", "INT64", data=[1.5, 2, 3])]}, "tensor 'i': data holds a value that is not INT64"),
        ({"inputs": [tensor("q", "FP8", data=[1])]}, "tensor 'q': unknown datatype 'FP8'"),
        ({"inputs": [tensor()]}, "tensor 'x': has neither data nor parameters.binary_data_size"),
        ({"inputs": [tensor(data=[1], parameters={"binary_data_size": 4})]}, "has both data and binary_data_size"),
        ({"inputs": [tensor(data=[1, 2, 3], parameters={"p": [1]})]}, "tensor 'x': parameters.p must be"),
    ],
)
def test_malformed_requests_name_the_field(document, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        convert(document)


def test_binary_sizes_must_account_for_the_binary_part_exactly():
    spec = {"inputs": [tensor(parameters={"binary_data_size": 12})]}
    with pytest.raises(RestError, match="tensor 'x': binary_data_size is 12 but only 8 bytes"):
        convert(spec, bytes(8))
    with pytest.raises(RestError, match="4 bytes of binary data follow the JSON"):
        convert(spec, bytes(16))


def test_split_body_reads_the_header_length():
    json_part, binary = split_body(b'{"a":1}xyz', "7")
    assert bytes(json_part) == b'{"a":1}' and bytes(binary) == b"xyz"
    with pytest.raises(RestError, match="is 99 but the body holds 10 bytes"):
        split_body(b'{"a":1}xyz', "99")
    with pytest.raises(RestError, match="must be a byte count"):
        split_body(b"{}", "-1")


def test_join_body_marks_binary_replies():
    body, headers = join_body(b"{}", [b"ab", b"c"])
    assert body == b"{}abc" and headers["inference-header-content-length"] == "2"
    assert join_body(b"{}", [])[1] == {"content-type": "application/json"}


def test_bad_json_names_the_problem_not_a_python_exception():
    with pytest.raises(InvalidInputError, match="request body is not valid JSON: Expecting value"):
        parse_json(b"nope")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        parse_json(b"\xff")
    assert parse_json(json.dumps({"a": 1}).encode()) == {"a": 1}


def test_typed_conversion_is_the_codec_s_input():
    # What the conversion builds is checked and decoded by the protocol's one codec.
    request, _ = convert({"inputs": [tensor("i", "INT8", (2,), data=[1, -2])]})
    checked = codec.check_typed("i", "INT8", [2], request.inputs[0].contents)
    assert codec.to_array(checked).tolist() == [1, -2]


@pytest.mark.parametrize(("datatype", "value"), [("INT8", 300), ("UINT32", -1), ("UINT8", 256)])
def test_json_integers_packed_raw_beside_a_binary_input_are_range_checked(datatype, value):
    binary = np.zeros((1, 3), np.float32).tobytes()

    def document(data: int) -> dict:
        return {
            "inputs": [
                tensor("small", datatype, (1,), data=[data]),
                tensor("a", parameters={"binary_data_size": len(binary)}),
            ]
        }

    with pytest.raises(InvalidInputError, match=f"tensor 'small': a value is out of range for {datatype}"):
        convert(document(value), binary)  # a cast would have wrapped it round silently
    request, _ = convert(document(7), binary)
    assert codec.decode_raw("small", datatype, [1], request.raw_input_contents[0]).tolist() == [7]
