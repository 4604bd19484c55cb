"""Per-frame cost of the video pipeline's own stages for one 640x480 text frame.

Times JPEG decode, H.264 decode, preprocess (PP-OCRv4 settings, native and reduced
input) and DB postprocess on the real detector's probability map, and, when the
model is present, the ONNX Runtime call itself for context. Bounded: a fixed number of
repetitions, prints medians in milliseconds.

    python -m benchmarks.vision_pipeline [--repeats 200] [--model PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from service.vision.annotate import annotate
from service.vision.config import DbTextConfig, PreprocessConfig
from service.vision.decode import make_decoder
from service.vision.postprocess import Detection, make_postprocessor
from service.vision.preprocess import Preprocessor
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg, text_scene

ROOT = Path(__file__).resolve().parents[1]


def ppocr_preprocess(max_side: int | None = None) -> PreprocessConfig:
    """PaddleOCR's detector input: BGR, ImageNet statistics, sides multiples of 32."""
    return PreprocessConfig(
        resize_mode="keep_aspect",
        max_side=max_side,
        multiple=32,
        color_order="BGR",
        scale=1 / 255,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )


DEFAULT_MODEL = ROOT / "model_repository" / "text_detection" / "1" / "model.onnx"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm caches and lazy initialisation outside the measurement
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    n = args.repeats

    image, _ = text_scene()
    jpeg = encode_jpeg(image, quality=90)
    jpeg_decoder = make_decoder("jpeg")
    results: dict[str, float] = {"decode jpeg 640x480": median_ms(lambda: jpeg_decoder.decode(jpeg), n)}

    # H.264: decode a 50-frame clip (one keyframe, then P-frames) and report per frame.
    clip = [text_scene(shift=(i % 20, i % 10))[0] for i in range(50)]
    packets = encode_h264(clip, gop=50)

    def decode_clip() -> None:
        dec = make_decoder("h264")
        for data, pts in packets:
            dec.decode(data, pts)
        dec.close()

    results["decode h264 640x480 (per frame)"] = median_ms(decode_clip, max(3, n // 20)) / len(packets)

    pre_native = Preprocessor(ppocr_preprocess())
    pre_reduced = Preprocessor(ppocr_preprocess(max_side=480))
    results["preprocess 640x480 -> 1x3x480x640"] = median_ms(lambda: pre_native(image), n)
    results["preprocess 640x480 -> 1x3x352x480"] = median_ms(lambda: pre_reduced(image), n)

    post = make_postprocessor(DbTextConfig(kind="db_text"))
    if args.model.is_file():
        import onnxruntime as ort

        session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
        for name, pre in (("480x640", pre_native), ("352x480", pre_reduced)):
            tensor, transform = pre(image)
            results[f"model (ORT) {name}"] = median_ms(lambda t=tensor: session.run(None, {"x": t}), max(5, n // 10))
            prob = session.run(None, {"x": tensor})[0]
            dets = post({"prob": prob}, transform)
            results[f"DB postprocess {name} map ({len(dets)} boxes)"] = median_ms(
                lambda p=prob, t=transform: post({"prob": p}, t), n
            )
    else:
        print(f"(model not found at {args.model}: skipping model and DB-on-real-map timings)")
    boxes = [
        Detection((40, 40, 240, 90), 0.9, "text"),
        Detection((300, 200, 530, 240), 0.9, "text"),
        Detection((60, 360, 285, 400), 0.9, "text"),
    ]
    results["annotate 640x480 (3 boxes + overlay)"] = median_ms(
        lambda: annotate(image, boxes, fps=25.0, latency_ms=40.0), n
    )

    width = max(map(len, results))
    for name, ms in results.items():
        print(f"{name:<{width}}  {ms:7.3f} ms")


if __name__ == "__main__":
    main()
