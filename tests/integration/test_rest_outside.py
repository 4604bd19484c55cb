"""Outside clients against the REST port of a real server: tritonclient.http, perf_analyzer
(-i http), curl; and `serve --http-port` from the command line."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator

import numpy as np
import pytest

from service.server import SwitchyardServer
from tests.conftest import free_port, require_text_detection, serving
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.conftest import make_settings, started_server
from tests.integration.test_video_support import finds_all_words, scene
from tests.service.oip import model_repo
from tests.service.oip.outside import perf_analyzer_sweep, run, run_client


@pytest.fixture(scope="module")
async def oip_rest(tmp_path_factory) -> AsyncIterator[SwitchyardServer]:
    repository = model_repo.build(tmp_path_factory.mktemp("rest_oip_repository"))
    server = await started_server(make_settings(repository, http_port=0, grace_period=1.0))
    yield server
    await server.stop(grace=1.0)


def curl() -> str:
    found = shutil.which("curl")
    if not found:
        pytest.skip("curl is missing (apt-get install curl)")
    return found


@pytest.mark.tritonclient
async def test_tritonclient_http_json_and_binary_tensors(oip_rest):
    report = (await run_client("tritonclient_http.py", "--url", f"127.0.0.1:{oip_rest.http_port}", timeout=90)).json()
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["server"]["name"] == "switchyard"
    assert report["metadata"]["inputs"][0]["shape"] == [-1, 16]
    assert report["config"]["max_batch_size"] == 8
    for model in ("simple_fp32", "simple_int64"):
        for form in ("json", "binary"):
            seen = report[f"{model}/{form}"]
            a, b = (np.array(seen["inputs"][n]["values"]) for n in ("INPUT0", "INPUT1"))
            assert seen["outputs"]["OUTPUT0"]["values"] == (a + b).tolist(), (model, form)
            assert seen["outputs"]["OUTPUT1"]["values"] == (a - b).tolist(), (model, form)
            assert seen["id"] == f"{model}-{form == 'binary'}"
            assert all((size is not None) == (form == "binary") for size in seen["binary_sizes"])
    for form in ("json", "binary"):
        assert report[f"bytes/{form}"]["values"] == ["switch", "", "yärd"]
    assert report["stats"]["model_stats"][0]["inference_stats"]["success"]["count"] >= 2
    assert report["unknown"]["status"] == "404" and "nobody" in report["unknown"]["message"]


@pytest.mark.tritonclient
async def test_perf_analyzer_over_http(oip_rest):
    # Reads metadata, config (max_batch_size) and statistics over HTTP, then loads the server.
    await perf_analyzer_sweep("http", f"127.0.0.1:{oip_rest.http_port}", timeout=60)


async def test_curl_json_infer(oip_rest):
    body = {
        "inputs": [
            {"name": "INPUT0", "datatype": "INT64", "shape": [1, 16], "data": list(range(16))},
            {"name": "INPUT1", "datatype": "INT64", "shape": [1, 16], "data": [10] * 16},
        ]
    }
    url = f"http://127.0.0.1:{oip_rest.http_port}/v2/models/simple_int64/infer"
    result = await run(curl(), "-sS", "--fail-with-body", "--data-binary", "@-", url, stdin=json.dumps(body).encode())
    outputs = {o["name"]: o["data"] for o in result.json()["outputs"]}
    assert outputs == {"OUTPUT0": [i + 10 for i in range(16)], "OUTPUT1": [i - 10 for i in range(16)]}
    missing = await run(
        curl(),
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-binary",
        "{}",
        url.replace("simple_int64", "nobody"),
    )
    assert missing.stdout == "404"


async def test_serve_http_port_and_curl_image(model_repo, tmp_path):
    """`serve --http-port P` from the command line; curl posts a JPEG to the text detector."""
    require_text_detection()
    photo = tmp_path / "photo.jpg"
    image, truth = scene(2)
    photo.write_bytes(encode_jpeg(image))
    port = free_port()
    with serving(sys.executable, model_repo, "--model", "text_detection", "--http-port", str(port)):
        result = await run(
            curl(),
            "-sS",
            "--fail-with-body",
            "--data-binary",
            f"@{photo}",
            "-H",
            "Content-Type: image/jpeg",
            f"http://127.0.0.1:{port}/v2/models/text_detection/infer",
            timeout=60,
        )
    outputs = {o["name"]: o for o in result.json()["outputs"]}
    assert outputs["labels"]["data"] == ["text"] * len(truth) and outputs["boxes"]["shape"] == [len(truth), 4]
    assert finds_all_words(np.reshape(outputs["boxes"]["data"], (-1, 4)).tolist(), truth)
