"""Drive a server's KServe v2 REST port with tritonclient.http; print a JSON report.

Run by .venv-triton's python. Infers with JSON tensors and with Triton's binary tensors, in
both directions, and reports what the client decoded (inputs included, so the pytest side
checks the arithmetic), plus the metadata, config, statistics and an error it saw.
"""

from __future__ import annotations

import numpy as np
import tritonclient.http as th
from _common import emit, error_report, parse_args, tensor_report
from tritonclient.utils import InferenceServerException

ADD_SUB = {"simple_fp32": (np.float32, "FP32", (2, 16)), "simple_int64": (np.int64, "INT64", (1, 16))}


def add_sub(client: th.InferenceServerClient, model: str, binary: bool) -> dict:
    dtype, datatype, shape = ADD_SUB[model]
    rng = np.random.default_rng(11)
    a = rng.integers(-50, 50, size=shape).astype(dtype)
    b = rng.integers(-50, 50, size=shape).astype(dtype)
    inputs = [th.InferInput("INPUT0", list(shape), datatype), th.InferInput("INPUT1", list(shape), datatype)]
    inputs[0].set_data_from_numpy(a, binary_data=binary)
    inputs[1].set_data_from_numpy(b, binary_data=binary)
    outputs = [th.InferRequestedOutput(n, binary_data=binary) for n in ("OUTPUT0", "OUTPUT1")]
    result = client.infer(model, inputs, outputs=outputs, request_id=f"{model}-{binary}")
    response = result.get_response()
    return {
        "id": response.get("id"),
        "binary_sizes": [o.get("parameters", {}).get("binary_data_size") for o in response["outputs"]],
        "inputs": {"INPUT0": tensor_report(a), "INPUT1": tensor_report(b)},
        "outputs": {n: tensor_report(result.as_numpy(n)) for n in ("OUTPUT0", "OUTPUT1")},
    }


def words(client: th.InferenceServerClient, binary: bool) -> dict:
    sent = np.array([b"switch", b"", "yärd".encode()], dtype=np.object_)
    tensor = th.InferInput("INPUT0", [3], "BYTES")
    tensor.set_data_from_numpy(sent, binary_data=binary)
    result = client.infer("simple_bytes", [tensor], outputs=[th.InferRequestedOutput("OUTPUT0", binary_data=binary)])
    return tensor_report(result.as_numpy("OUTPUT0"))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    client = th.InferenceServerClient(args.url)
    report: dict = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("simple_fp32"),
        "server": client.get_server_metadata(),
        "metadata": client.get_model_metadata("simple_fp32"),
        "config": client.get_model_config("simple_fp32"),
    }
    for model in ADD_SUB:
        for binary in (False, True):
            report[f"{model}/{'binary' if binary else 'json'}"] = add_sub(client, model, binary)
    report["bytes/json"] = words(client, False)
    report["bytes/binary"] = words(client, True)
    report["stats"] = client.get_inference_statistics("simple_fp32")
    try:
        client.get_model_metadata("nobody")
    except InferenceServerException as exc:
        report["unknown"] = error_report(exc)
    client.close()
    emit(report)


if __name__ == "__main__":
    main()
