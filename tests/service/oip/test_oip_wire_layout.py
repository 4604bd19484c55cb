"""Our inference.* protos against the descriptors tritonclient ships (a client nobody here wrote)."""

from __future__ import annotations

import pytest

from protos.inference import grpc_service_pb2, model_config_pb2
from tests.service.oip.outside import run_client

pytestmark = pytest.mark.tritonclient


async def test_every_triton_message_field_and_rpc_matches_ours(tmp_path):
    (tmp_path / "grpc_service.pb").write_bytes(grpc_service_pb2.DESCRIPTOR.serialized_pb)
    (tmp_path / "model_config.pb").write_bytes(model_config_pb2.DESCRIPTOR.serialized_pb)
    report = (await run_client("wire_layout.py", tmp_path)).json()
    assert report["problems"] == []
    # Messages, enums and RPCs compared: a broken walk would compare nothing.
    assert report["compared"] > 150


def test_package_and_service_names_are_triton_s():
    service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    stream = service.methods_by_name["ModelStreamInfer"]
    assert stream.output_type.full_name == "inference.ModelStreamInferResponse"
    assert stream.client_streaming and stream.server_streaming
