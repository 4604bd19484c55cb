"""What OIP system shared memory saves a same-host caller: one 640x480 float frame per request.

    python -m benchmarks.shared_memory [--requests 200]

Starts `switchyard serve` (127.0.0.1, so shared memory is on) over two throwaway models that
take a [1,3,480,640] FP32 frame (3.7 MB): `frame_mean` answers 12 bytes (the per-channel
mean), `frame_identity` answers the frame itself. tritonclient (benchmarks/
shared_memory_client.py, in .venv-triton: scripts/setup_triton_env.sh) times each request
with the tensors as raw contents and with them in shared memory, modes alternating in blocks;
the table shows median and p90 ms and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from benchmarks.server import ROOT, start_server, stop_server

TRITON_PYTHON = ROOT / ".venv-triton" / "bin" / "python"
CLIENT = Path(__file__).resolve().parent / "shared_memory_client.py"
FRAME: list[str | int] = ["N", 3, 480, 640]
# model -> (ONNX op, output name, output shape for one frame)
MODELS: dict[str, tuple[str, str, list[int]]] = {
    "frame_mean": ("GlobalAveragePool", "mean", [1, 3, 1, 1]),
    "frame_identity": ("Identity", "output", [1, 3, 480, 640]),
}


def write_repository(root: Path) -> None:
    for name, (op, output, shape) in MODELS.items():
        graph = helper.make_graph(
            [helper.make_node(op, ["input"], [output])],
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, FRAME)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", *shape[1:]])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        (root / name / "1").mkdir(parents=True)
        onnx.save(model, str(root / name / "1" / "model.onnx"))
        (root / name / "config.yaml").write_text("backend: onnxruntime\n")


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per mode and model")
    args = parser.parse_args()
    if not TRITON_PYTHON.exists():
        raise SystemExit(f"{TRITON_PYTHON.relative_to(ROOT)} is missing: run scripts/setup_triton_env.sh")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        repository = Path(folder) / "repository"
        write_repository(repository)
        process, port = start_server(repository, Path(folder) / "port")
        try:
            rows = []
            for model, (_, output, shape) in MODELS.items():
                command = [
                    str(TRITON_PYTHON),
                    str(CLIENT),
                    "--url",
                    f"127.0.0.1:{port}",
                    "--model",
                    model,
                    "--output",
                    output,
                    "--output-shape",
                    ",".join(map(str, shape)),
                    "--requests",
                    str(args.requests),
                ]
                done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
                if done.returncode:
                    raise SystemExit(f"the client failed ({done.returncode}): {done.stderr[-2000:]}")
                report = json.loads(done.stdout.strip().splitlines()[-1])
                raw, via_shm = summary(report["ms"]["raw"]), summary(report["ms"]["shm"])
                rows.append((model, report["output_bytes"], raw, via_shm))
        finally:
            stop_server(process)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'model':16} {'output':>9} {'raw p50':>8} {'raw p90':>8} {'shm p50':>8} {'shm p90':>8} {'shm/raw':>8}")
    for model, out_bytes, (raw50, raw90), (shm50, shm90) in rows:
        print(
            f"{model:16} {out_bytes:>9} {raw50:>8.2f} {raw90:>8.2f} {shm50:>8.2f} {shm90:>8.2f} {shm50 / raw50:>8.2f}"
        )


if __name__ == "__main__":
    main()
