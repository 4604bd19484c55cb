"""Drive a server with tritonclient.grpc (sync API and its own generated stubs); print a JSON report.

Run by .venv-triton's python (tritonclient brings its own `inference.*` protos and
protobuf<7, which cannot share a process with Switchyard's). The report holds what the
client saw, inputs included, so the pytest side can check the arithmetic itself.
"""

from __future__ import annotations

import queue

import grpc
import numpy as np
import tritonclient.grpc as tc
from _common import emit, error_report, parse_args, tensor_report
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

ADD_SUB = {
    "simple_fp32": (np.float32, "FP32", (2, 16)),
    "simple_int64": (np.int64, "INT64", (1, 16)),
    "simple_fp16": (np.float16, "FP16", (3, 16)),
}


def add_sub_inputs(dtype, datatype: str, shape) -> tuple[list, dict]:
    rng = np.random.default_rng(7)
    a = rng.integers(-50, 50, size=shape).astype(dtype)
    b = rng.integers(-50, 50, size=shape).astype(dtype)
    inputs = [tc.InferInput("INPUT0", list(shape), datatype), tc.InferInput("INPUT1", list(shape), datatype)]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    return inputs, {"INPUT0": tensor_report(a), "INPUT1": tensor_report(b)}


def result_report(result, names) -> dict:
    response = result.get_response()
    return {
        "id": response.id,
        "model_name": response.model_name,
        "model_version": response.model_version,
        "raw_count": len(response.raw_output_contents),
        "output_names": [o.name for o in response.outputs],
        "datatypes": {o.name: o.datatype for o in response.outputs},
        "outputs": {name: tensor_report(result.as_numpy(name)) for name in names},
    }


def infer_raw(client: tc.InferenceServerClient) -> dict:
    report = {}
    for model, (dtype, datatype, shape) in ADD_SUB.items():
        inputs, sent = add_sub_inputs(dtype, datatype, shape)
        result = client.infer(model, inputs, request_id=f"req-{model}")
        report[model] = {"inputs": sent, **result_report(result, ["OUTPUT0", "OUTPUT1"])}
    words = np.array([b"switch", b"", "yärd".encode(), b"\x00\x01bin"], dtype=np.object_)
    bytes_input = tc.InferInput("INPUT0", [4], "BYTES")
    bytes_input.set_data_from_numpy(words)
    result = client.infer("simple_bytes", [bytes_input], request_id="req-bytes")
    out = result.as_numpy("OUTPUT0")
    report["simple_bytes"] = {
        "sent_hex": [w.hex() for w in words],
        "got_hex": [bytes(v).hex() for v in out.ravel()],
        **{k: v for k, v in result_report(result, []).items() if k != "outputs"},
    }
    return report


def requested_outputs(client: tc.InferenceServerClient) -> dict:
    inputs, sent = add_sub_inputs(np.float32, "FP32", (1, 16))
    result = client.infer("simple_fp32", inputs, outputs=[tc.InferRequestedOutput("OUTPUT1")])
    return {"inputs": sent, **result_report(result, ["OUTPUT1"])}


def typed_contents(url: str) -> dict:
    """The typed (non-raw) path, through tritonclient's own generated stub."""
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
    request = service_pb2.ModelInferRequest(model_name="simple_int64", id="typed-1")
    for name, values in (("INPUT0", list(range(16))), ("INPUT1", [3] * 16)):
        tensor = request.inputs.add(name=name, datatype="INT64", shape=[1, 16])
        tensor.contents.int64_contents.extend(values)
    response = stub.ModelInfer(request, timeout=10)
    fp32 = service_pb2.ModelInferRequest(model_name="simple_fp32", id="typed-2")
    for name, values in (("INPUT0", [0.5] * 16), ("INPUT1", [0.25] * 16)):
        tensor = fp32.inputs.add(name=name, datatype="FP32", shape=[1, 16])
        tensor.contents.fp32_contents.extend(values)
    fp32.outputs.add(name="OUTPUT0")
    fp32_response = stub.ModelInfer(fp32, timeout=10)
    return {
        "int64": {
            "id": response.id,
            "raw_count": len(response.raw_output_contents),
            "outputs": {o.name: list(o.contents.int64_contents) for o in response.outputs},
            "shapes": {o.name: list(o.shape) for o in response.outputs},
        },
        "fp32": {
            "id": fp32_response.id,
            "raw_count": len(fp32_response.raw_output_contents),
            "outputs": {o.name: list(o.contents.fp32_contents) for o in fp32_response.outputs},
        },
    }


def errors(client: tc.InferenceServerClient, url: str) -> dict:
    report = {}
    inputs, _ = add_sub_inputs(np.float32, "FP32", (1, 16))
    for key, call in {
        "unknown_model": lambda: client.infer("no_such_model", inputs),
        "unknown_model_metadata": lambda: client.get_model_metadata("no_such_model"),
        "bad_shape": lambda: client.infer("simple_int64", add_sub_inputs(np.int64, "INT64", (2, 16))[0]),
        "cuda_shm": lambda: client.get_cuda_shared_memory_status(),
        "trace": lambda: client.get_trace_settings(),
        "trace_level": lambda: client.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"]}),
    }.items():
        try:
            call()
            report[key] = {"status": "OK", "message": ""}
        except InferenceServerException as exc:
            report[key] = error_report(exc)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
    request = service_pb2.ModelInferRequest(model_name="simple_fp32")
    for name in ("INPUT0", "INPUT1"):
        request.inputs.add(name=name, datatype="FP32", shape=[1, 16])
    request.raw_input_contents.append(np.zeros(16, np.float32).tobytes())
    try:
        stub.ModelInfer(request, timeout=10)
        report["raw_count_mismatch"] = {"status": "OK", "message": ""}
    except grpc.RpcError as exc:
        report["raw_count_mismatch"] = error_report(exc)
    return report


def stream(client: tc.InferenceServerClient) -> list[dict]:
    """Three requests on one stream, the middle one bad: expect result, in-band error, result."""
    events: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: events.put((result, error)))
    sent = []
    try:
        for i, shape in enumerate([(1, 16), (1, 15), (2, 16)]):
            inputs, report = add_sub_inputs(np.float32, "FP32", shape)
            client.async_stream_infer("simple_fp32", inputs, request_id=f"stream-{i}")
            sent.append(report)
        seen = []
        for _ in range(3):
            result, error = events.get(timeout=20)
            if error is not None:
                seen.append({"error": error.message()})
            else:
                seen.append(
                    {
                        "sent": sent[int(result.get_response().id.split("-")[1])],
                        **result_report(result, ["OUTPUT0", "OUTPUT1"]),
                    }
                )
    finally:
        client.stop_stream()
    return seen


def statistics(client: tc.InferenceServerClient, model: str) -> dict:
    return client.get_inference_statistics(model_name=model, as_json=True)


def main() -> None:
    args = parse_args(__doc__)
    client = tc.InferenceServerClient(url=args.url)
    report: dict = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server_metadata": client.get_server_metadata(as_json=True),
        "model_ready": {m: client.is_model_ready(m) for m in ("simple_fp32", "simple_bytes", "no_such_model")},
        "model_metadata": {m: client.get_model_metadata(m, as_json=True) for m in (*ADD_SUB, "simple_bytes")},
        "model_config": {m: client.get_model_config(m, as_json=True) for m in (*ADD_SUB, "simple_bytes")},
        "stats_before": statistics(client, "simple_fp32"),
    }
    report["infer_raw"] = infer_raw(client)
    report["requested_outputs"] = requested_outputs(client)
    report["typed"] = typed_contents(args.url)
    report["errors"] = errors(client, args.url)
    report["stream"] = stream(client)
    report["stats_after"] = statistics(client, "simple_fp32")
    report["stats_all"] = client.get_inference_statistics(as_json=True)
    client.close()
    emit(report)


if __name__ == "__main__":
    main()
