"""perf_analyzer (Triton's C++ load generator) and grpcurl (via reflection) against a live server."""

from __future__ import annotations

import json

import pytest

from tests.service.oip.outside import grpcurl, perf_analyzer_sweep, run

pytestmark = [pytest.mark.tritonclient, pytest.mark.asyncio(loop_scope="module")]


async def test_perf_analyzer_two_concurrency_levels(oip_url):
    # Reads ModelMetadata, ModelConfig (max_batch_size) and ModelStatistics, then loads the server.
    result = await perf_analyzer_sweep("grpc", oip_url, timeout=45)
    print(result.stdout)  # recorded in docs/benchmarks.md


async def test_grpcurl_lists_the_service_through_reflection(oip_url):
    result = await run(grpcurl(), "-plaintext", oip_url, "list", timeout=20)
    assert result.returncode == 0, result.stderr
    services = result.stdout.split()
    assert "inference.GRPCInferenceService" in services and "switchyard.v1.Predict" in services


async def test_grpcurl_model_infer_with_json_typed_contents(oip_url):
    request = {
        "model_name": "simple_int64",
        "id": "curl-1",
        "inputs": [
            {"name": "INPUT0", "datatype": "INT64", "shape": [1, 16], "contents": {"int64_contents": list(range(16))}},
            {"name": "INPUT1", "datatype": "INT64", "shape": [1, 16], "contents": {"int64_contents": [10] * 16}},
        ],
        "outputs": [{"name": "OUTPUT0"}],
    }
    result = await run(
        grpcurl(),
        "-plaintext",
        "-d",
        "@",
        oip_url,
        "inference.GRPCInferenceService/ModelInfer",
        stdin=json.dumps(request).encode(),
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    # grpcurl prints proto field names (older releases) or their JSON camelCase forms.
    assert reply["id"] == "curl-1" and not {"raw_output_contents", "rawOutputContents"} & set(reply)
    (output,) = reply["outputs"]
    assert output["name"] == "OUTPUT0" and output["datatype"] == "INT64"
    values = output["contents"].get("int64_contents") or output["contents"].get("int64Contents")
    assert [int(v) for v in values] == [v + 10 for v in range(16)]


async def test_grpcurl_unknown_model_is_not_found(oip_url):
    result = await run(
        grpcurl(),
        "-plaintext",
        "-d",
        '{"name": "nope"}',
        oip_url,
        "inference.GRPCInferenceService/ModelMetadata",
        timeout=20,
    )
    assert result.returncode != 0 and "NotFound" in result.stderr and "nope" in result.stderr
