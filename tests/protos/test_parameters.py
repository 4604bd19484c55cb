"""One writer for request parameters of both protocols."""

from __future__ import annotations

import pytest

from protos.inference import grpc_service_pb2 as oip
from protos.parameters import set_parameter
from protos.switchyard.v1 import predict_pb2 as pb


@pytest.mark.parametrize("message", [pb.PredictRequest(), oip.ModelInferRequest()])
def test_each_type_lands_in_its_own_field(message):
    for key, value in {"flag": True, "count": 7, "ratio": 0.5, "name": "x"}.items():
        set_parameter(message.parameters[key], value)
    fields = {
        key: message.parameters[key].WhichOneof(message.parameters[key].DESCRIPTOR.oneofs[0].name)
        for key in message.parameters
    }
    assert fields == {"flag": "bool_param", "count": "int64_param", "ratio": "double_param", "name": "string_param"}
    assert message.parameters["flag"].bool_param is True and message.parameters["count"].int64_param == 7


def test_other_types_and_oversized_integers_are_refused():
    message = oip.ModelInferRequest()
    with pytest.raises(TypeError, match="not list"):
        set_parameter(message.parameters["bad"], [1])
    with pytest.raises(ValueError):
        set_parameter(message.parameters["big"], 1 << 70)
