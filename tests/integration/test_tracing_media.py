"""Spans of pictures: a StreamVideo frame is a trace of its own, an image Predict has its image stages."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from clients import AsyncSwitchyardClient, AsyncVideoClient
from tests.conftest import DEFAULT_REPOSITORY, require_text_detection, serving
from tests.fixtures.otlp import otlp_receiver
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.test_tracing import FAST_EXPORT
from tests.integration.test_video_support import scene

MODEL = "text_detection"
FRAMES = 3
FRAME_CHILDREN = {"image.decode", "preprocess", "queue", "infer", "postprocess"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    model = require_text_detection()
    root = tmp_path_factory.mktemp("traced_media")
    (root / MODEL / "1").mkdir(parents=True)
    shutil.copyfile(model, root / MODEL / "1" / "model.onnx")
    shutil.copyfile(DEFAULT_REPOSITORY / MODEL / "config.yaml", root / MODEL / "config.yaml")
    return root


async def _send(address: str) -> None:
    video = AsyncVideoClient(address)
    client = AsyncSwitchyardClient(address)
    try:
        frames = [encode_jpeg(scene(i)[0]) for i in range(FRAMES)]
        results = [r async for r in video.stream(frames, model=MODEL)]
        assert len(results) == FRAMES
        await client.predict(MODEL, {"image": np.array([frames[0]], dtype=object)}, timeout=30)
    finally:
        await video.close()
        await client.close()


def test_frames_and_image_requests_have_their_stage_spans(repo) -> None:
    with otlp_receiver() as (receiver, endpoint):
        flags = ("--otel-endpoint", endpoint, "--trace-rate", "1")
        with serving(sys.executable, repo, *flags, env=FAST_EXPORT) as (_, address):
            asyncio.run(_send(address))
            spans = receiver.wait_for(
                lambda got: (
                    sum(s.name == "video.frame" for s in got) == FRAMES
                    and any(s.name.endswith("/Predict") for s in got)
                    and sum(s.name == "postprocess" for s in got) == FRAMES + 1
                )
            )

    (stream,) = [s for s in spans if s.name.endswith("/StreamVideo")]
    frames = [s for s in spans if s.name == "video.frame"]
    assert sorted(f.attributes["switchyard.frame.index"] for f in frames) == list(range(FRAMES))
    for frame in frames:
        # Its own trace (a stream may last hours), linked to the stream's span.
        assert frame.parent_id == "" and frame.trace_id != stream.trace_id
        assert frame.links == ((stream.trace_id, stream.span_id),)
        assert frame.attributes["switchyard.frame.outcome"] == "result"
        children = {s.name: s for s in spans if s.trace_id == frame.trace_id and s is not frame}
        assert set(children) == FRAME_CHILDREN
        for child in children.values():
            assert child.parent_id == frame.span_id
            assert frame.start_ns <= child.start_ns <= child.end_ns <= frame.end_ns
        assert children["image.decode"].end_ns <= children["preprocess"].start_ns
        assert children["infer"].end_ns <= children["postprocess"].start_ns

    (predict,) = [s for s in spans if s.name.endswith("/Predict")]
    stages = {s.name: s for s in spans if s.trace_id == predict.trace_id and s is not predict}
    assert {"image.decode", "preprocess", "infer", "postprocess"} <= set(stages)
    assert all(s.parent_id == predict.span_id for s in stages.values())
    assert stages["image.decode"].end_ns <= stages["preprocess"].start_ns <= stages["infer"].start_ns
