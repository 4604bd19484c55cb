"""KServe v2 REST on a real server (127.0.0.1, ephemeral ports): routes, JSON and binary tensors,
parity with both gRPC protocols, every error status, the image path and the metrics label."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import httpx
import numpy as np
import pytest

from protos import codec
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from service.server import SwitchyardServer
from tests.conftest import require_text_detection
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.conftest import make_settings, started_server
from tests.integration.test_metrics import scrape
from tests.integration.test_video_support import finds_all_words, scene

HEADER = "inference-header-content-length"


async def rest_server(model_repo, **settings) -> AsyncIterator[tuple[SwitchyardServer, httpx.AsyncClient]]:
    server = await started_server(make_settings(model_repo, http_port=0, **settings))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=60) as client:
            yield server, client
    finally:
        await server.stop(grace=0)


@pytest.fixture(scope="module")
async def rest(model_repo) -> AsyncIterator[tuple[SwitchyardServer, httpx.AsyncClient]]:
    async for item in rest_server(model_repo, metrics_port=0):
        yield item


@pytest.fixture(scope="module")
async def limited(model_repo) -> AsyncIterator[httpx.AsyncClient]:
    """Small message and in-flight limits: 413 and 429 without sending much."""
    async for _, client in rest_server(
        model_repo, models=["add"], max_message_bytes=2 * 1024 * 1024, max_inflight_bytes=1024 * 1024
    ):
        yield client


def add_json(a: list[float], b: list[float], **extra) -> dict:
    rows = len(a) // 4
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [rows, 4], "data": a},
            {"name": "b", "datatype": "FP32", "shape": [rows, 4], "data": b},
        ],
        **extra,
    }


WRONG_DATATYPE = {
    "inputs": [
        {"name": "a", "datatype": "INT32", "shape": [1, 4], "data": [1] * 4},
        {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [1] * 4},
    ]
}


def split(reply: httpx.Response) -> tuple[dict, bytes]:
    length = int(reply.headers.get(HEADER, len(reply.content)))
    return json.loads(reply.content[:length]), reply.content[length:]


async def test_health_metadata_config_and_stats_routes(rest):
    _, client = rest
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    server = (await client.get("/v2")).json()
    assert server["name"] == "switchyard" and "binary_tensor_data" in server["extensions"]
    model = (await client.get("/v2/models/add")).json()
    assert model["inputs"][0] == {"name": "a", "datatype": "FP32", "shape": [-1, 4]}
    assert (await client.get("/v2/models/versioned/versions/1/ready")).json() == {"name": "versioned", "ready": True}
    # The KServe v2 spec answers "not ready" with a 4xx, as Triton does (400).
    not_ready = await client.get("/v2/models/corrupt/ready")
    assert not_ready.status_code == 400 and "'corrupt' is not ready" in not_ready.json()["error"]
    config = (await client.get("/v2/models/add/config")).json()
    assert config["name"] == "add" and isinstance(config["max_batch_size"], int)
    stats = (await client.get("/v2/models/add/stats")).json()["model_stats"][0]
    assert stats["name"] == "add" and isinstance(stats["inference_stats"]["success"]["count"], int)


async def test_json_infer_answers_json(rest):
    _, client = rest
    reply = await client.post("/v2/models/add/infer", json=add_json([1, 2, 3, 4], [10, 10, 10, 10], id="q1"))
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    answer = reply.json()
    assert answer["id"] == "q1" and answer["model_name"] == "add" and answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["sum"] == {"name": "sum", "datatype": "FP32", "shape": [1, 4], "data": [11, 12, 13, 14]}
    assert outputs["diff"]["data"] == [-9, -8, -7, -6]


async def test_a_big_json_body_answers_the_same(rest):
    # Over INLINE_JSON_BYTES: parsed in a worker thread, the same conversion.
    _, client = rest
    a = np.random.default_rng(3).random((20_000, 4), dtype=np.float32)
    body = add_json(a.ravel().tolist(), [1.0] * a.size)
    assert len(json.dumps(body)) > 256 * 1024
    reply = await client.post("/v2/models/add/infer", json=body)
    assert reply.status_code == 200, reply.text
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    assert outputs["sum"]["shape"] == [20_000, 4]
    assert np.array_equal(np.array(outputs["sum"]["data"], np.float32).reshape(20_000, 4), a + 1)


async def test_binary_inputs_and_outputs(rest):
    _, client = rest
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    header = json.dumps(
        {
            "inputs": [
                {"name": "a", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": 32}},
                {"name": "b", "datatype": "FP32", "shape": [2, 4], "data": [1] * 8},
            ],
            "outputs": [{"name": "sum", "parameters": {"binary_data": True}}, {"name": "diff"}],
        }
    ).encode()
    reply = await client.post("/v2/models/add/infer", content=header + a.tobytes(), headers={HEADER: str(len(header))})
    assert reply.status_code == 200, reply.text
    answer, binary = split(reply)
    (sum_out, diff_out) = answer["outputs"]
    assert sum_out["parameters"] == {"binary_data_size": 32}
    assert binary == (a + 1).tobytes()
    assert diff_out["data"] == (a - 1).ravel().tolist()


async def test_one_request_three_protocols_byte_identical_outputs(rest):
    server, client = rest
    x = np.random.default_rng(7).random((1, 3, 64, 64), dtype=np.float32)
    raw = codec.encode_raw(x)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 3, 64, 64],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    reply = await client.post("/v2/models/tiny_cnn/infer", content=header + raw, headers={HEADER: str(len(header))})
    answer, binary = split(reply)
    offsets, rest_outputs = 0, {}
    for output in answer["outputs"]:
        size = output["parameters"]["binary_data_size"]
        rest_outputs[output["name"]] = binary[offsets : offsets + size]
        offsets += size
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        request = oip.ModelInferRequest(model_name="tiny_cnn", raw_input_contents=[raw])
        request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
        oip_reply = await oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
        predict = pb.PredictRequest(model="tiny_cnn", raw_output=True)
        predict.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64], raw_contents=raw)
        predict_reply = await predict_pb2_grpc.PredictStub(channel).Predict(predict, timeout=30)
    oip_outputs = {t.name: oip_reply.raw_output_contents[i] for i, t in enumerate(oip_reply.outputs)}
    predict_outputs = {t.name: t.raw_contents for t in predict_reply.outputs}
    assert set(rest_outputs) == {"probabilities", "logits"}
    assert rest_outputs == oip_outputs == predict_outputs


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/nobody/infer", add_json([1] * 4, [1] * 4), 404, "unknown model 'nobody'"),
        ("/v2/models/add/versions/9/infer", add_json([1] * 4, [1] * 4), 404, "version 9"),
        ("/v2/models/add/infer", b"{not json", 400, "request body is not valid JSON"),
        ("/v2/models/add/infer", add_json([1] * 3, [1] * 4), 400, "tensor 'a'"),
        ("/v2/models/add/infer", WRONG_DATATYPE, 400, "'a'"),
        ("/v2/models/corrupt/infer", add_json([1] * 4, [1] * 4), 503, "model 'corrupt' has no ready version"),
    ],
)
async def test_errors_are_json_with_their_status(rest, path, body, status, message):
    _, client = rest
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = await client.post(path, content=content)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert message in reply.json()["error"]


async def test_images_go_only_to_models_that_declare_preprocess(rest):
    _, client = rest
    reply = await client.post("/v2/models/add/infer", content=b"\xff\xd8", headers={"content-type": "image/jpeg"})
    assert reply.status_code == 415 and "declares no preprocess" in reply.json()["error"]
    require_text_detection()
    reply = await client.post(
        "/v2/models/text_detection/infer", content=b"\xff\xd8 cut", headers={"content-type": "image/jpeg"}
    )
    assert reply.status_code == 400 and "image" in reply.json()["error"]


async def test_unknown_routes_and_methods_are_json_errors(rest):
    _, client = rest
    reply = await client.get("/v2/nothing/here")
    assert reply.status_code == 404 and "no route" in reply.json()["error"]
    reply = await client.get("/v2/models/add/infer")
    assert reply.status_code == 405 and "GET is not served" in reply.json()["error"]


async def test_body_over_the_message_limit_is_413_before_it_is_read(limited):
    reply = await limited.post("/v2/models/add/infer", content=bytes(3 * 1024 * 1024))
    assert reply.status_code == 413
    assert "max_message_bytes" in reply.json()["error"]


async def test_over_the_inflight_budget_is_429(limited):
    a = np.ones((40_000, 4), np.float32).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {"name": n, "datatype": "FP32", "shape": [40_000, 4], "parameters": {"binary_data_size": len(a)}}
                for n in ("a", "b")
            ]
        }
    ).encode()
    reply = await limited.post("/v2/models/add/infer", content=header + a + a, headers={HEADER: str(len(header))})
    assert reply.status_code == 429, reply.text
    assert "max_inflight_bytes" in reply.json()["error"]


async def test_a_jpeg_body_gets_the_postprocessed_detections(rest):
    require_text_detection()
    _, client = rest
    image, truth = scene(3)
    reply = await client.post(
        "/v2/models/text_detection/infer", content=encode_jpeg(image), headers={"content-type": "image/jpeg"}
    )
    assert reply.status_code == 200, reply.text
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    assert set(outputs) == {"boxes", "scores", "labels", "class_ids", "polygons"}
    assert outputs["labels"]["data"] == ["text"] * 3 and outputs["boxes"]["shape"] == [3, 4]
    boxes = np.array(outputs["boxes"]["data"], np.float32).reshape(3, 4)
    assert finds_all_words(boxes.tolist(), truth)


async def test_rest_requests_are_counted_with_their_protocol(rest):
    server, client = rest
    await client.post("/v2/models/add/infer", json=add_json([1] * 4, [1] * 4))
    await client.get("/v2/models/nobody")
    families = await asyncio.to_thread(scrape, server.metrics.port)
    samples = {
        (s.labels["protocol"], s.labels["code"]): s.value
        for s in families["switchyard_protocol_requests"]
        if s.name.endswith("_total")
    }
    assert samples[("rest", "OK")] >= 1 and samples[("rest", "NOT_FOUND")] >= 1
    unknown = {
        s.labels["protocol"]: s.value
        for s in families["switchyard_unknown_model_requests"]
        if s.name.endswith("_total")
    }
    assert unknown["rest"] >= 1


async def test_http_port_off_and_stop_closes_the_listener(model_repo):
    off = await started_server(make_settings(model_repo, models=["add"], http_port=-1))
    assert off.rest is None and off.http_port == 0
    await off.stop(grace=0)
    on = await started_server(make_settings(model_repo, models=["add"], http_port=0))
    url = f"http://127.0.0.1:{on.http_port}/v2/health/live"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        await on.stop(grace=1)
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_stop_lets_a_running_rest_request_finish_then_closes_the_port(model_repo):
    server = await started_server(make_settings(model_repo, models=["slow"], http_port=0))
    x = np.ones((384, 384), np.float32)
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [384, 384], "parameters": {"binary_data_size": x.nbytes}}
            ]
        }
    ).encode()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=60) as client:
        running = asyncio.ensure_future(
            client.post("/v2/models/slow/infer", content=header + x.tobytes(), headers={HEADER: str(len(header))})
        )
        while not server.gate.active:  # in the servicer: the same drain gate as gRPC calls
            await asyncio.sleep(0)
        await server.stop(grace=60)
        reply = await running
        assert reply.status_code == 200, reply.text
        with pytest.raises(httpx.ConnectError):
            await client.get("/v2/health/live")


async def test_a_client_leaving_mid_body_is_counted_cancelled_not_as_a_server_fault(rest):
    server, _ = rest
    counts = server.protocol_requests.counts
    before = counts.get(("rest", "CANCELLED"), 0), counts.get(("rest", "INTERNAL"), 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(
        b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + b'{"inputs": ['
    )
    await writer.drain()
    writer.close()  # 100,000 bytes promised, 12 sent
    await writer.wait_closed()
    deadline = asyncio.get_running_loop().time() + 30
    while counts.get(("rest", "CANCELLED"), 0) == before[0]:
        assert asyncio.get_running_loop().time() < deadline, counts
        await asyncio.sleep(0.01)
    assert counts.get(("rest", "INTERNAL"), 0) == before[1], counts
