"""System shared memory the way Triton's own examples use it, with tritonclient.grpc and
tritonclient.utils.shared_memory (POSIX shm_open); prints a JSON report.

Run by .venv-triton's python. The input and both outputs of the tiny CNN live in shared
memory (the two outputs in one region at different offsets); a normal raw infer of the same
input is reported beside them, and every refusal is reported as status + message.
"""

from __future__ import annotations

import os

import numpy as np
import tritonclient.grpc as tc
import tritonclient.utils.shared_memory as shm
from _common import emit, error_report, parse_args
from tritonclient.utils import InferenceServerException

MODEL = "tiny_cnn"
SHAPE = [1, 3, 64, 64]
OUTPUT_BYTES = 10 * 4
LOGITS_OFFSET = 64


def attempt(call) -> dict:
    try:
        call()
    except InferenceServerException as exc:
        return error_report(exc)
    return {"status": "OK", "message": ""}


def shm_infer(client: tc.InferenceServerClient, size: int, offset: int = 0, region: str = "input_data"):
    source = tc.InferInput("input", SHAPE, "FP32")
    source.set_shared_memory(region, size, offset)
    probabilities = tc.InferRequestedOutput("probabilities")
    probabilities.set_shared_memory("output_data", OUTPUT_BYTES)
    logits = tc.InferRequestedOutput("logits")
    logits.set_shared_memory("output_data", OUTPUT_BYTES, offset=LOGITS_OFFSET)
    return client.infer(MODEL, [source], outputs=[probabilities, logits])


def main() -> None:
    args = parse_args(__doc__ or "")
    client = tc.InferenceServerClient(args.url)
    client.unregister_system_shared_memory()  # whatever an earlier run left behind
    x = np.random.default_rng(3).standard_normal(SHAPE).astype(np.float32)
    keys = {"input": f"/sy_test_input_{os.getpid()}", "output": f"/sy_test_output_{os.getpid()}"}
    input_handle = shm.create_shared_memory_region("input_data", keys["input"], x.nbytes)
    output_handle = shm.create_shared_memory_region("output_data", keys["output"], LOGITS_OFFSET + OUTPUT_BYTES)
    report: dict = {"keys": keys, "input_bytes": x.nbytes}
    try:
        shm.set_shared_memory_region(input_handle, [x])
        client.register_system_shared_memory("input_data", keys["input"], x.nbytes)
        client.register_system_shared_memory("output_data", keys["output"], LOGITS_OFFSET + OUTPUT_BYTES)
        report["extensions"] = list(client.get_server_metadata(as_json=True)["extensions"])
        report["status_all"] = client.get_system_shared_memory_status(as_json=True)
        report["status_one"] = client.get_system_shared_memory_status("output_data", as_json=True)

        result = shm_infer(client, x.nbytes)
        response = result.get_response()
        report["shm"] = {
            "raw_lengths": [len(r) for r in response.raw_output_contents],
            "outputs": {
                o.name: {
                    "shape": list(o.shape),
                    "datatype": o.datatype,
                    "parameters": {
                        k: str(getattr(v, v.WhichOneof("parameter_choice"))) for k, v in o.parameters.items()
                    },
                }
                for o in response.outputs
            },
            "probabilities": shm.get_contents_as_numpy(output_handle, np.float32, [1, 10]).tolist(),
            "logits": shm.get_contents_as_numpy(output_handle, np.float32, [1, 10], offset=LOGITS_OFFSET).tolist(),
        }
        plain = tc.InferInput("input", SHAPE, "FP32")
        plain.set_data_from_numpy(x)
        normal = client.infer(MODEL, [plain])
        report["raw"] = {name: normal.as_numpy(name).tolist() for name in ("probabilities", "logits")}

        report["errors"] = {
            "wrong_size": attempt(lambda: shm_infer(client, x.nbytes - 4)),
            "unknown_region": attempt(lambda: shm_infer(client, x.nbytes, region="no_such_region")),
            "offset_past_end": attempt(lambda: shm_infer(client, x.nbytes, offset=16)),
            "register_past_end": attempt(
                lambda: client.register_system_shared_memory("too_big", keys["input"], x.nbytes + 1)
            ),
            "register_unknown_key": attempt(
                lambda: client.register_system_shared_memory("nowhere", "/sy_no_such_key", 16)
            ),
            "register_twice": attempt(lambda: client.register_system_shared_memory("input_data", keys["input"], 16)),
            "status_unknown": attempt(lambda: client.get_system_shared_memory_status("no_such_region")),
            "cuda_register": attempt(lambda: client.register_cuda_shared_memory("gpu", b"\x00" * 64, 0, 64)),
        }
        client.unregister_system_shared_memory("input_data")
        report["status_after_unregister"] = client.get_system_shared_memory_status(as_json=True)
        report["errors"]["after_unregister"] = attempt(lambda: shm_infer(client, x.nbytes))
        client.unregister_system_shared_memory()
        report["status_after_unregister_all"] = client.get_system_shared_memory_status(as_json=True)
    finally:
        shm.destroy_shared_memory_region(input_handle)
        shm.destroy_shared_memory_region(output_handle)
    emit(report)


if __name__ == "__main__":
    main()
