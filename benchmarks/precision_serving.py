"""FP32 vs BF16 vs INT8 through a real server: Predict latency/throughput and StreamVideo fps.

    python -m benchmarks.precision_serving [--seconds 3] [--variants ort-fp32,ort-int8,ov-fp32,ov-bf16,ov-int8]

One `switchyard serve` process per variant (runtime + precision), each serving the PP-OCRv4
text detector (as `text_detection`, its shipped pre/postprocess) and tiny_cnn with that
config. INT8 is built by the server itself from generated calibration data (Pillow-drawn
words; smooth random images for tiny_cnn) into a shared --cache-dir, and gated as
configured; the gate's figures are printed from GetModel. Per variant: the text detector's
640x480 JPEG image Predict (median latency at concurrency 1, requests/s at concurrency 4),
one StreamVideo of 640x480 JPEG frames sent as fast as flow control allows (fps), and
tiny_cnn's [1,3,64,64] Predict (median latency, requests/s at concurrency 4).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.server import ROOT, start_server, stop_server
from benchmarks.serving import cpu_seconds
from benchmarks.video_streams import clip, one_stream
from clients import AsyncSwitchyardClient
from tests.fixtures.vision.scenes import encode_jpeg, text_scene

VARIANTS = {
    "ort-fp32": "backend: onnxruntime\n",
    "ort-int8": "backend: onnxruntime\nprecision: int8\n",
    "ov-fp32": "backend: openvino\n",
    "ov-bf16": "backend: openvino\nprecision: bf16\n",
    "ov-int8": "backend: openvino\nprecision: int8\n",
}


def make_repository(folder: Path, variant: str) -> Path:
    repo = folder / variant
    models = ROOT / "model_repository"
    for name in ("text_detection", "tiny_cnn"):
        (repo / name / "1").mkdir(parents=True)
        os.symlink(models / name / "1" / "model.onnx", repo / name / "1" / "model.onnx")
        shipped = (models / name / "config.yaml").read_text().replace("backend: auto\n", "")
        (repo / name / "config.yaml").write_text(VARIANTS[variant] + shipped)
        (repo / name / "calibration").mkdir()
    for i in range(4):
        image = text_scene(shift=(12 * i - 20, 10 * i - 15))[0]
        (repo / "text_detection" / "calibration" / f"scene{i}.jpg").write_bytes(encode_jpeg(image))
    base = np.random.default_rng(7).random((16, 3, 8, 8), dtype=np.float32)
    np.savez(repo / "tiny_cnn" / "calibration" / "batch.npz", input=np.repeat(np.repeat(base, 8, 2), 8, 3))
    return repo


async def latency_ms(client: AsyncSwitchyardClient, model: str, inputs: dict, seconds: float) -> float:
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        await client.predict(model, inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


async def throughput(client: AsyncSwitchyardClient, model: str, inputs: dict, seconds: float, workers: int) -> float:
    done, deadline = 0, time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.predict(model, inputs)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - start)


async def measure(address: str, pid: int, seconds: float) -> dict[str, object]:
    image = {"image": np.array([encode_jpeg(text_scene(shift=(7, 13))[0])], dtype=object)}
    tensor = {"input": np.random.default_rng(99).random((1, 3, 64, 64), dtype=np.float32)}
    out: dict[str, object] = {}
    async with AsyncSwitchyardClient(address) as client:
        for model in ("text_detection", "tiny_cnn"):
            (version,) = (await client.get_model(model)).versions
            out[f"{model} precision"] = version.precision
            out[f"{model} gate"] = version.precision_steps[0] if len(version.precision_steps) > 1 else ""
        for _ in range(3):  # warm-up: first runs at a new shape are slow
            await client.predict("text_detection", image)
        out["image ms"] = await latency_ms(client, "text_detection", image, seconds)
        cpu, started = cpu_seconds(pid), time.perf_counter()
        rps = await throughput(client, "text_detection", image, seconds, workers=4)
        # The server's CPU per image: unlike the wall clock, barely moved by other jobs' load.
        out["image cpu ms"] = (cpu_seconds(pid) - cpu) * 1e3 / (rps * (time.perf_counter() - started))
        out["image rps"] = rps
        out["words found"] = len((await client.predict("text_detection", image))["boxes"])
        out["tiny ms"] = await latency_ms(client, "tiny_cnn", tensor, seconds)
        out["tiny rps"] = await throughput(client, "tiny_cnn", tensor, seconds, workers=4)
    frames = clip("jpeg", max(25, int(seconds * 25)))
    out["stream fps"] = (await one_stream(address, frames, "jpeg", "max", 25.0))["fps"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep quantized models between runs")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, {args.seconds:g} s per measurement")
    print("| variant | detector precision | image Predict p50 ms | image req/s (c=4) | server CPU ms/image ", end="")
    print("| StreamVideo fps | words | tiny_cnn precision | tiny_cnn p50 ms | tiny_cnn req/s (c=4) | startup s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    gates = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        for variant in args.variants.split(","):
            repo = make_repository(Path(tmp), variant)
            started = time.perf_counter()
            process, port = start_server(
                repo, Path(tmp) / f"port-{variant}", timeout=900, extra=("--cache-dir", str(cache))
            )
            startup = time.perf_counter() - started
            try:
                r = asyncio.run(measure(f"127.0.0.1:{port}", process.pid, args.seconds))
            finally:
                stop_server(process)
            print(
                f"| {variant} | {r['text_detection precision']} | {r['image ms']:.1f} | {r['image rps']:.1f} "
                f"| {r['image cpu ms']:.0f} | {r['stream fps']:.1f} | {r['words found']} "
                f"| {r['tiny_cnn precision']} | {r['tiny ms']:.2f} "
                f"| {r['tiny rps']:.0f} | {startup:.1f} |",
                flush=True,
            )
            gates += [f"{variant} {m}: {r[f'{m} gate']}" for m in ("text_detection", "tiny_cnn") if r[f"{m} gate"]]
    print(f"load average {os.getloadavg()[0]:.2f} after the run")
    print("\n".join(gates))


if __name__ == "__main__":
    main()
