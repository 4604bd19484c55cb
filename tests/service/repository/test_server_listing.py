"""Over gRPC: ListModels shows every folder and each reason as a client sees it; the server logs the tally."""

from __future__ import annotations

import logging

from clients import AsyncSwitchyardClient
from protos.switchyard.v1 import predict_pb2 as pb
from tests.integration.conftest import make_settings, started_server
from tests.service.repository.conftest import NVIDIA


async def test_list_models_reports_unconfigured_folders_and_relative_reasons(repo, caplog):
    with caplog.at_level(logging.INFO, logger="service.server"):
        server = await started_server(make_settings(repo, probe_sysroot=NVIDIA))
    try:
        async with AsyncSwitchyardClient(f"127.0.0.1:{server.port}") as client:
            listed = {m.name: m for m in await client.list_models()}
    finally:
        await server.stop(grace=0)

    assert set(listed) == {"corrupt", "from_triton", "no_config", "tiny_cnn"}

    def unavailable(version: pb.ModelVersionInfo) -> bool:
        return pb.ModelVersionInfo.State.Name(version.state).endswith("UNAVAILABLE")

    [triton] = listed["from_triton"].versions
    assert unavailable(triton) and triton.reason.startswith("found config.pbtxt (Triton)")
    [corrupt] = listed["corrupt"].versions
    assert unavailable(corrupt) and corrupt.reason.startswith("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF")
    for model in listed.values():
        for version in model.versions:
            assert str(repo) not in version.reason and str(repo.resolve()) not in version.reason

    server_lines = [r.getMessage() for r in caplog.records if r.name == "service.server"]
    tallies = [line for line in server_lines if line.startswith("models:")]
    assert tallies == ["models: 1 READY, 3 UNAVAILABLE (corrupt, from_triton, no_config)"]
