"""tritonclient (sync, its generated stubs, and grpc.aio) against a live Switchyard server.

tritonclient runs in its own process and virtual environment (its `inference.*`
protos and protobuf<7 cannot share a process with ours); it reports what it saw as
JSON, inputs included, and the assertions here check the arithmetic themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytest_asyncio

from tests.service.oip.outside import run_client

pytestmark = [pytest.mark.tritonclient, pytest.mark.asyncio(loop_scope="module")]

DTYPES = {"simple_fp32": np.float32, "simple_int64": np.int64, "simple_fp16": np.float16}


def array(report: dict, dtype=None) -> np.ndarray:
    return np.array(report["values"], dtype=dtype or report["dtype"]).reshape(report["shape"])


def check_add_sub(sent: dict, outputs: dict, dtype) -> None:
    a, b = array(sent["INPUT0"], dtype), array(sent["INPUT1"], dtype)
    if "OUTPUT0" in outputs:
        np.testing.assert_array_equal(array(outputs["OUTPUT0"], dtype), a + b)
    np.testing.assert_array_equal(array(outputs["OUTPUT1"], dtype), a - b)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sync_report(oip_url):
    return (await run_client("tritonclient_sync.py", "--url", oip_url, timeout=60)).json()


async def test_server_live_ready_and_metadata(sync_report):
    assert sync_report["live"] is True and sync_report["ready"] is True
    metadata = sync_report["server_metadata"]
    assert metadata["name"] == "switchyard" and metadata["version"]
    # Only what is implemented; repository admin is off by default, shared memory on (loopback).
    assert set(metadata["extensions"]) == {
        "binary_tensor_data",
        "model_configuration",
        "statistics",
        "system_shared_memory",
    }
    assert sync_report["model_ready"] == {"simple_fp32": True, "simple_bytes": True, "no_such_model": False}


async def test_model_metadata_has_datatypes_and_dynamic_dims(sync_report):
    fp32 = sync_report["model_metadata"]["simple_fp32"]
    assert fp32["versions"] == ["1"] and fp32["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in fp32["inputs"]] == [
        ("INPUT0", "FP32", [-1, 16]),
        ("INPUT1", "FP32", [-1, 16]),
    ]
    assert [t["name"] for t in fp32["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    bytes_meta = sync_report["model_metadata"]["simple_bytes"]
    assert [(t["datatype"], [int(d) for d in t["shape"]]) for t in bytes_meta["inputs"]] == [("BYTES", [-1])]


async def test_model_config_states_batching_truthfully(sync_report):
    fp32 = sync_report["model_config"]["simple_fp32"]["config"]
    assert fp32["max_batch_size"] == 8 and fp32["backend"] == "onnxruntime"
    assert [(i["name"], i["data_type"], [int(d) for d in i["dims"]]) for i in fp32["input"]] == [
        ("INPUT0", "TYPE_FP32", [16]),
        ("INPUT1", "TYPE_FP32", [16]),
    ]  # batch dim left out
    assert int(fp32["dynamic_batching"]["max_queue_delay_microseconds"]) == 100
    int64 = sync_report["model_config"]["simple_int64"]["config"]
    assert "max_batch_size" not in int64 and "dynamic_batching" not in int64  # 0 / absent
    assert [int(d) for d in int64["input"][0]["dims"]] == [1, 16]
    assert sync_report["model_config"]["simple_bytes"]["config"]["input"][0]["data_type"] == "TYPE_STRING"


@pytest.mark.parametrize("model", ["simple_fp32", "simple_int64", "simple_fp16"])
async def test_raw_infer_returns_raw_outputs_with_the_right_numbers(sync_report, model):
    result = sync_report["infer_raw"][model]
    assert result["id"] == f"req-{model}" and result["model_version"] == "1"
    assert result["raw_count"] == 2 and result["output_names"] == ["OUTPUT0", "OUTPUT1"]
    check_add_sub(result["inputs"], result["outputs"], DTYPES[model])
    expected = {"simple_fp32": "FP32", "simple_int64": "INT64", "simple_fp16": "FP16"}[model]
    assert set(result["datatypes"].values()) == {expected}


async def test_bytes_round_trip_with_length_prefixes(sync_report):
    result = sync_report["infer_raw"]["simple_bytes"]
    assert result["got_hex"] == result["sent_hex"]  # includes an empty and a binary element
    assert result["datatypes"] == {"OUTPUT0": "BYTES"} and result["raw_count"] == 1


async def test_requested_outputs_subset(sync_report):
    result = sync_report["requested_outputs"]
    assert result["output_names"] == ["OUTPUT1"] and result["raw_count"] == 1
    check_add_sub(result["inputs"], result["outputs"], np.float32)


async def test_typed_contents_come_back_typed(sync_report):
    int64 = sync_report["typed"]["int64"]
    assert int64["id"] == "typed-1" and int64["raw_count"] == 0
    assert int64["outputs"]["OUTPUT0"] == [v + 3 for v in range(16)]
    assert int64["outputs"]["OUTPUT1"] == [v - 3 for v in range(16)]
    assert int64["shapes"] == {"OUTPUT0": [1, 16], "OUTPUT1": [1, 16]}
    fp32 = sync_report["typed"]["fp32"]
    assert fp32["raw_count"] == 0 and fp32["outputs"] == {"OUTPUT0": [0.75] * 16}


async def test_status_codes(sync_report):
    errors = sync_report["errors"]
    assert errors["unknown_model"]["status"] == "NOT_FOUND"
    assert "no_such_model" in errors["unknown_model"]["message"]
    assert errors["unknown_model_metadata"]["status"] == "NOT_FOUND"
    assert errors["bad_shape"]["status"] == "INVALID_ARGUMENT" and "INPUT0" in errors["bad_shape"]["message"]
    assert errors["raw_count_mismatch"]["status"] == "INVALID_ARGUMENT"
    assert "raw_input_contents" in errors["raw_count_mismatch"]["message"]
    assert errors["cuda_shm"]["status"] == "UNIMPLEMENTED" and errors["cuda_shm"]["message"]
    # TraceSetting answers the settings; one it cannot change is refused naming it.
    assert errors["trace"]["status"] == "OK"
    assert errors["trace_level"]["status"] == "INVALID_ARGUMENT" and "trace_level" in errors["trace_level"]["message"]


async def test_stream_reports_a_bad_request_in_band_and_continues(sync_report):
    first, bad, last = sync_report["stream"]
    assert first["id"] == "stream-0" and last["id"] == "stream-2"
    check_add_sub(first["sent"], first["outputs"], np.float32)
    check_add_sub(last["sent"], last["outputs"], np.float32)
    assert "INPUT0" in bad["error"] and "[1, 15]" in bad["error"]


async def test_statistics_counts_move(sync_report):
    def stats(report):
        (entry,) = report["model_stats"]
        assert entry["name"] == "simple_fp32" and entry["version"] == "1"
        infer = entry["inference_stats"]
        return {k: int(infer[k].get("count", 0)) for k in ("success", "queue", "compute_infer")} | {
            "inference_count": int(entry.get("inference_count", 0)),
            "execution_count": int(entry.get("execution_count", 0)),
            "infer_ns": int(infer["compute_infer"].get("ns", 0)),
        }

    before, after = stats(sync_report["stats_before"]), stats(sync_report["stats_after"])
    # fp32 successes in the sync run: 1 raw infer, 1 requested-outputs, 1 typed, 2 on the stream.
    assert after["success"] - before["success"] == 5
    assert after["inference_count"] - before["inference_count"] == 2 + 1 + 1 + 1 + 2  # batch sizes
    assert after["execution_count"] > before["execution_count"]
    assert after["infer_ns"] > before["infer_ns"]
    names = {(s["name"], s["version"]) for s in sync_report["stats_all"]["model_stats"]}
    assert {("simple_fp32", "1"), ("simple_bytes", "1"), ("simple_int64", "1")} <= names


async def test_asyncio_client_unary_concurrent_and_stream(oip_url):
    report = (await run_client("tritonclient_aio.py", "--url", oip_url, timeout=60)).json()
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["infer"]["id"] == "aio-1"
    check_add_sub(report["infer"]["sent"], report["infer"]["outputs"], np.float32)
    assert [c["id"] for c in report["concurrent"]] == [f"c{i}" for i in range(8)]
    for item in report["concurrent"]:
        check_add_sub(item["sent"], item["outputs"], np.float32)
    assert report["bad_shape"]["status"] == "INVALID_ARGUMENT" and "INPUT0" in report["bad_shape"]["message"]
    first, bad, last = report["stream"]
    check_add_sub(first["sent"], first["outputs"], np.float32)
    assert "error" in bad and "[1, 3]" in bad["error"]
    check_add_sub(last["sent"], last["outputs"], np.float32)
