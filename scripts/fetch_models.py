"""Fetch or build the default model repository's artifacts, verifying checksums.

    python scripts/fetch_models.py [--repository model_repository]

- text_detection: the PP-OCRv4 text detector (Apache-2.0) shipped inside the
  rapidocr-onnxruntime 1.4.4 wheel on PyPI; the wheel and the model are sha256-checked.
- tiny_cnn: a small image classifier network built with onnx.helper from fixed seeds
  (deterministic weights; for shape, dtype and speed tests, its predictions mean nothing).
Idempotent: an artifact that is present with the right checksum is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RAPIDOCR_WHEEL = "rapidocr-onnxruntime==1.4.4"
RAPIDOCR_WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
PPOCR_MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
PPOCR_SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_text_detection(repository: Path, cache: Path) -> Path:
    target = repository / "text_detection" / "1" / "model.onnx"
    if target.is_file() and sha256(target) == PPOCR_SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = list(cache.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", RAPIDOCR_WHEEL, "-d", str(cache)],
            check=True,
        )
        wheels = list(cache.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
    wheel = wheels[0]
    if sha256(wheel) != RAPIDOCR_WHEEL_SHA256:
        wheel.unlink()
        raise SystemExit(f"checksum mismatch for {wheel.name}; removed it, run again")
    data = zipfile.ZipFile(wheel).read(PPOCR_MEMBER)
    if hashlib.sha256(data).hexdigest() != PPOCR_SHA256:
        raise SystemExit(f"checksum mismatch for {PPOCR_MEMBER} inside {wheel.name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp.write(data)
    Path(tmp.name).replace(target)
    return target


def build_tiny_cnn(repository: Path) -> Path:
    from tests.fixtures.models import tiny_cnn  # one builder for tests and the repository

    target = repository / "tiny_cnn" / "1" / "model.onnx"
    data = tiny_cnn().SerializeToString()
    if target.is_file() and target.read_bytes() == data:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, default=ROOT / "model_repository")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "downloads")
    args = parser.parse_args()
    for path in (fetch_text_detection(args.repository, args.cache), build_tiny_cnn(args.repository)):
        print(f"ok  {path.relative_to(args.repository)}  sha256={sha256(path)[:16]}")


if __name__ == "__main__":
    main()
