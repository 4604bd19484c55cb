"""ModelInferRequest decoding rules that need no model (BF16 and FP16 are raw-only)."""

from __future__ import annotations

import numpy as np
import pytest

from protos.errors import InvalidInputError
from protos.inference import grpc_service_pb2 as pb
from service.oip.messages import decode_request


def test_bf16_decodes_raw_and_is_refused_typed():
    values = np.array([0x3F80, 0x4000, 0xC040], dtype="<u2")  # 1.0, 2.0, -3.0 in bfloat16
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[values.tobytes()])
    request.inputs.add(name="W", datatype="BF16", shape=[3])
    decoded, raw = decode_request(request, None, 0.0)
    assert raw and decoded.inputs["W"].tobytes() == values.tobytes()
    typed = pb.ModelInferRequest(model_name="m")
    typed.inputs.add(name="H", datatype="FP16", shape=[1]).contents.fp32_contents.append(1.0)
    with pytest.raises(InvalidInputError, match="'H'.*raw_input_contents"):
        decode_request(typed, None, 0.0)
