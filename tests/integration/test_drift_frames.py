"""Frame statistics through a real server: a camera that goes dark or out of focus moves its own feature.

The reference is built the way a user builds it: `switchyard profile` over PNG pictures, here
the pictures an H.264 clip of healthy frames decodes to, so the reference and the live stream
see the same codec.
"""

from __future__ import annotations

import asyncio
import logging

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper

from clients import AsyncVideoClient, Frame
from service.drift.frames import BLUR, BRIGHTNESS, CONTRAST, FRAME_TENSORS
from service.drift.profile import read_profile
from service.vision.decode import make_decoder
from tests.conftest import write_model
from tests.fixtures.models import _model
from tests.fixtures.vision.scenes import encode_h264
from tests.integration.conftest import make_settings, start_server
from tests.service.cli.conftest import switchyard

HEIGHT, WIDTH = 128, 160
WINDOW = 300
CONFIG = (
    "backend: onnxruntime\n"
    "preprocess: {size: [16, 16], scale: 0.0039}\n"
    f"drift: {{sample_rate: 1.0, window: {WINDOW}, psi_alert: 0.2}}\n"
)


def pooling_model():
    """x [N,3,16,16] -> mean per channel: a vision model whose outputs hardly matter here."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 1, 1])],
    )
    return _model(graph)


def scene(rng: np.random.Generator, dark: bool = False, blurred: bool = False) -> np.ndarray:
    """Grey rectangles on a grey ground (values 90..210): sharp edges, a spread of levels."""
    image: np.ndarray = np.full((HEIGHT, WIDTH, 3), 150 + rng.integers(-10, 11), np.uint8)
    for _ in range(8):
        y, x = rng.integers(0, HEIGHT - 16), rng.integers(0, WIDTH - 16)
        h, w = rng.integers(8, 48), rng.integers(8, 48)
        image[y : y + h, x : x + w] = rng.integers(90, 211)
    if blurred:
        image = cv2.GaussianBlur(image, (0, 0), 3)
    if dark:
        image = image - np.uint8(80)  # a pure shift: the contrast and the edges stay as they were
    return image


def clip(rng: np.random.Generator, count: int, **kind) -> list[Frame]:
    packets = encode_h264([scene(rng, **kind) for _ in range(count)], gop=30)
    return [Frame(data, index=i, pts=pts) for i, (data, pts) in enumerate(packets)]


def decoded(frames: list[Frame]) -> list[np.ndarray]:
    """The pictures the server's own decoder makes of a clip."""
    decoder = make_decoder("h264", 0, 0, "RGB", 10**7)
    try:
        pictures = [p.image for f in frames for p in decoder.decode(f.data, f.index)]
        return pictures + [p.image for p in decoder.flush()]
    finally:
        decoder.close()


@pytest.fixture(scope="module")
def frames_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    model = write_model(root / "repo", "camera", pooling_model(), CONFIG)
    pictures = root / "pictures"
    pictures.mkdir()
    for i, image in enumerate(decoded(clip(np.random.default_rng(0), 400))):
        cv2.imwrite(str(pictures / f"{i:04d}.png"), image[:, :, ::-1])
    done = switchyard("profile", str(model), "--data", str(pictures))
    assert done.returncode == 0, done.stderr
    assert "profiled 400 items from 400 files" in done.stdout
    return root / "repo"


def psi(server, tensor: str) -> float:
    labels = {"model": "camera", "version": "1", "tensor": tensor, "feature": "0"}
    value = server.metrics.registry.get_sample_value("switchyard_drift_psi", labels)
    return float("nan") if value is None else value


async def stream_all(client: AsyncVideoClient, frames: list[Frame]) -> None:
    replies = [r async for r in client.stream(frames, model="camera", encoding="h264", returns="tensors")]
    assert len(replies) == len(frames) and all(r.ok for r in replies)


def test_the_profile_holds_the_frame_statistics_of_its_pictures(frames_repo):
    profile = read_profile(frames_repo / "camera" / "1" / "profile.json")
    assert set(profile.frames) == set(FRAME_TENSORS)
    brightness = profile.frames[BRIGHTNESS].features[0]
    assert brightness.count == 400 and 135 < brightness.mean < 165
    assert profile.frames[BLUR].features[0].min > 0
    assert profile.inputs["x"].features[0].count == 400 * 16 * 16


async def test_a_darkening_then_blurring_camera_moves_exactly_its_feature(frames_repo):
    rng = np.random.default_rng(1)
    async for running in start_server(make_settings(frames_repo)):
        server, client = running.server, AsyncVideoClient(running.address)
        try:
            await stream_all(client, clip(rng, WINDOW))
            await server.drift.drain()
            assert all(psi(server, t) < 0.2 for t in FRAME_TENSORS), [psi(server, t) for t in FRAME_TENSORS]
            await stream_all(client, clip(rng, WINDOW, dark=True))
            await server.drift.drain()
            assert psi(server, BRIGHTNESS) > 0.2
            assert psi(server, CONTRAST) < 0.2 and psi(server, BLUR) < 0.2
            summary = (await running.client.get_model("camera")).versions[0].drift
            assert summary.drifting and summary.max_psi_tensor in (BRIGHTNESS, "x", "y")
            await stream_all(client, clip(rng, WINDOW, blurred=True))
            await server.drift.drain()
            assert psi(server, BLUR) > 0.2 and psi(server, BRIGHTNESS) < 0.2
            ks = server.metrics.registry.get_sample_value(
                "switchyard_drift_ks", {"model": "camera", "version": "1", "tensor": BLUR, "feature": "0"}
            )
            assert ks is not None and ks > 0.5
        finally:
            await client.close()


async def hold_open(client: AsyncVideoClient, frames: list[Frame], answered: asyncio.Event, release: asyncio.Event):
    """Streams the frames, sets `answered` once every one is answered, and ends only on `release`."""

    async def requests():
        for frame in frames:
            yield frame
        await release.wait()

    count = 0
    async for reply in client.stream(requests(), model="camera", encoding="h264", returns="tensors"):
        count += reply.ok
        if count == len(frames):
            answered.set()


async def test_one_dark_stream_among_healthy_traffic_is_flagged_on_its_own(frames_repo, caplog):
    caplog.set_level(logging.INFO, logger="service.drift.streams")
    rng = np.random.default_rng(2)
    async for running in start_server(make_settings(frames_repo)):
        server, client = running.server, AsyncVideoClient(running.address)
        registry = server.metrics.registry
        dark = clip(rng, 60, dark=True)
        pictures = decoded(dark)
        answered, release = asyncio.Event(), asyncio.Event()

        watcher = asyncio.ensure_future(hold_open(client, dark, answered, release))
        try:
            # The model's windows see mostly healthy frames from another camera.
            await stream_all(client, clip(rng, WINDOW))
            await asyncio.wait_for(answered.wait(), timeout=120)
            await server.drift.drain()
            (session,) = server.video.active
            stream = session.frame_drift
            assert stream is not None and stream.sampled == len(dark)
            luma = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY) for p in pictures]
            assert stream.means[BRIGHTNESS] == pytest.approx(np.mean([g.mean() for g in luma]), abs=1e-6)
            assert stream.means[CONTRAST] == pytest.approx(np.mean([g.std() for g in luma]), abs=1e-6)
            labels = {"model": "camera", "version": "1"}
            assert registry.get_sample_value("switchyard_drift_streams_drifting", labels) == 1
            worst = {
                t: registry.get_sample_value("switchyard_drift_stream_psi_max", {**labels, "tensor": t}) or 0.0
                for t in FRAME_TENSORS
            }
            assert worst[BRIGHTNESS] > 0.2 and worst[BLUR] < 0.2, worst
        finally:
            release.set()
            await watcher
            await client.close()
        await server.drift.drain()
        assert registry.get_sample_value("switchyard_drift_streams_drifting", labels) is None
        ended = [r.getMessage() for r in caplog.records if "ended:" in r.getMessage()]
        assert any(f"stream {stream.number} ended: {len(dark)} frames sampled" in m for m in ended), ended


async def test_unary_image_predict_feeds_the_frame_statistics(frames_repo):
    pictures = decoded(clip(np.random.default_rng(3), 150, dark=True))
    async for running in start_server(make_settings(frames_repo)):
        server = running.server
        for picture in pictures:
            png = cv2.imencode(".png", picture[:, :, ::-1])[1].tobytes()
            await running.client.predict("camera", {"image": np.array([png], dtype=object)})
        await server.drift.drain()
        (tracker,) = server.drift.versions()
        assert tracker.frames_sampled == len(pictures) == tracker.sampled
        assert psi(server, BRIGHTNESS) > 0.2
        assert psi(server, CONTRAST) < 0.2 and psi(server, BLUR) < 0.2


def test_profiling_pictures_for_an_input_the_model_lacks_names_the_setting(tmp_path):
    config = CONFIG.replace("size:", "input_name: nope, size:")
    model = write_model(tmp_path / "repo", "camera", pooling_model(), config)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    cv2.imwrite(str(pictures / "0.png"), scene(np.random.default_rng(1)))
    done = switchyard("profile", str(model), "--data", str(pictures))
    assert done.returncode != 0
    assert "preprocess.input_name 'nope' is not one of its inputs ['x']" in done.stderr
    assert "Traceback" not in done.stderr
