"""perf_analyzer (Triton's C++ load generator) and grpcurl (via reflection) against a live server."""

from __future__ import annotations

import json
import re

import pytest

from tests.service.oip.outside import grpcurl, perf_analyzer, run

pytestmark = [pytest.mark.tritonclient, pytest.mark.asyncio(loop_scope="module")]


async def test_perf_analyzer_two_concurrency_levels(oip_url):
    # Reads ModelMetadata, ModelConfig (max_batch_size) and ModelStatistics, then loads the server.
    result = await run(
        perf_analyzer(),
        "-m",
        "simple_fp32",
        "-i",
        "grpc",
        "-u",
        oip_url,
        "-b",
        "1",
        "--concurrency-range",
        "1:2",
        "--measurement-interval",
        "1000",
        "--stability-percentage",
        "100",
        timeout=45,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)  # recorded in docs/benchmarks.md
    throughput = dict(re.findall(r"Concurrency: (\d+), throughput: ([\d.]+) infer/sec", result.stdout))
    assert set(throughput) == {"1", "2"} and all(float(v) > 0 for v in throughput.values())
    # perf_analyzer's server-side section comes from our ModelStatistics.
    counts = [int(n) for n in re.findall(r"Successful request count: (\d+)", result.stdout)]
    assert len(counts) == 2 and all(n > 0 for n in counts)


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
