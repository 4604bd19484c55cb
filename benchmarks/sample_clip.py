"""Write a short clip of moving text, to try `switchyard stream` without a camera or a file.

    python -m benchmarks.sample_clip clip.mp4 [--seconds 10] [--fps 25]   # H.264 in MP4
    python -m benchmarks.sample_clip frames/ [--seconds 2]                # a folder of JPEGs

640x480 frames of the scenes the video benchmark streams: three words drawn with Pillow
that drift across the frame, so the text detector finds them everywhere. A path ending in
.mp4 or .mkv gets H.264 (libx264, no B-frames); any other path becomes a folder of
numbered JPEG files.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.fixtures.vision.scenes import encode_jpeg, text_scene

VIDEO_SUFFIXES = (".mp4", ".mkv")


def scenes(count: int) -> Iterator[np.ndarray]:
    for i in range(count):
        yield text_scene(shift=(2 * (i % 60), i % 30))[0]


def write_video(path: Path, count: int, fps: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for image in scenes(count):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def write_jpegs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(scenes(count)):
        (folder / f"frame_{i:05d}.jpg").write_bytes(encode_jpeg(image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="an .mp4 / .mkv file, or a folder for JPEG files")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    count = max(1, round(args.seconds * args.fps))
    if args.path.suffix.lower() in VIDEO_SUFFIXES:
        write_video(args.path, count, args.fps)
        print(f"wrote {args.path}: {count} frames, 640x480 H.264 at {args.fps} fps")
    else:
        write_jpegs(args.path, count)
        print(f"wrote {count} 640x480 JPEG files to {args.path}")


if __name__ == "__main__":
    main()
