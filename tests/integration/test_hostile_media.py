"""A hostile client's media against a real server process: every case gets its status and a
message that names the problem, and the server's peak memory grows by less than 256 MiB.

Memory is the server process's own (/proc/<pid>/status VmHWM after resetting it through
clear_refs), so the test's copies of the bombs do not count. With the limits switched off
the same requests cost the server +1.1 GB (JPEG), +2.3 GB (PNG), +1.2 GB (H.264 SPS) and
+330 MB (the raw 1080p stream).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import grpc
import numpy as np
import pytest

from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from protos.switchyard.v1 import video_pb2 as vpb
from service.predict.servicer import PredictServicer
from service.rpc.drain import DrainGate
from service.video.session import VideoStreams
from service.vision.limits import MediaLimits
from tests.conftest import DEFAULT_REPOSITORY, require_text_detection, serving
from tests.fixtures.memory import peak_growth
from tests.fixtures.vision.bombs import h264_with_sps, jpeg_bomb, png_bomb
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.test_video_support import scene

MODEL = "text_detection"
BUDGET_MIB = 256
LIMIT = str(16 * 1024 * 1024)  # the default --max-image-pixels
C = vpb.StreamConfig
TIMEOUT = 60  # generous: the machine is shared; answers come in well under a second


def text_detector_repository(repo, model):
    """A repository holding the default text detector's config and (a link to) its model."""
    (repo / MODEL / "1").mkdir(parents=True)
    shutil.copyfile(DEFAULT_REPOSITORY / MODEL / "config.yaml", repo / MODEL / "config.yaml")
    os.symlink(model, repo / MODEL / "1" / "model.onnx")
    return repo


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`switchyard serve` in its own process with the text detector; yields (pid, address)."""
    model = require_text_detection()
    repo = text_detector_repository(tmp_path_factory.mktemp("hostile"), model)
    with serving(sys.executable, repo) as (proc, address):
        yield proc.pid, address


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(server[1], options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        yield predict_pb2_grpc.PredictStub(channel)


def image_request(data: bytes) -> pb.PredictRequest:
    tensor = pb.Tensor(name="image", datatype="BYTES", shape=[1], contents=pb.TensorContents(bytes_contents=[data]))
    return pb.PredictRequest(model=MODEL, inputs=[tensor])


async def stream(stub, config: vpb.StreamConfig, frames: list[bytes]) -> list[vpb.StreamVideoResponse]:
    """All replies. A stream refused on its config is sent without frames: frames still being
    written when the server ends the call would fail on the client's side first."""

    def requests():
        yield vpb.StreamVideoRequest(config=config)
        for i, data in enumerate(frames):
            yield vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=i, pts=i, data=data))

    return [reply async for reply in stub.StreamVideo(requests(), timeout=TIMEOUT)]


def no_python_names(message: str) -> bool:
    return not any(word in message for word in ("Error:", "Traceback", "ValueError", "KeyError", "internal error"))


@pytest.mark.parametrize("bomb", [jpeg_bomb, png_bomb])
async def test_image_bomb_is_refused_on_its_header(server, stub, bomb) -> None:
    data = bomb(20000, 20000)  # ~1.6 / 1.2 MB
    with peak_growth(server[0]) as grown, pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Predict(image_request(data), timeout=TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    details = caught.value.details()
    assert "image in input 'image'" in details and "20000x20000" in details and LIMIT in details
    assert grown.mib < BUDGET_MIB


@pytest.mark.parametrize(
    ("encoding", "frames"),
    [
        (C.ENCODING_JPEG, lambda: [jpeg_bomb(20000, 20000), encode_jpeg(scene(0)[0])]),
        (C.ENCODING_PNG, lambda: [png_bomb(20000, 20000)]),
        (C.ENCODING_H264, lambda: h264_with_sps(16000, 16000)),
    ],
)
async def test_frame_bomb_is_that_frames_error_and_the_stream_goes_on(server, stub, encoding, frames) -> None:
    data = frames()
    with peak_growth(server[0]) as grown:
        replies = await stream(stub, C(model=MODEL, encoding=encoding), data)
    assert [r.index for r in replies] == list(range(len(data)))
    first = replies[0]
    assert first.WhichOneof("outcome") == "error" and first.error.code == "RESOURCE_EXHAUSTED"
    dims = "16000x16000" if encoding == C.ENCODING_H264 else "20000x20000"
    assert dims in first.error.message and LIMIT in first.error.message
    if encoding == C.ENCODING_JPEG:
        assert replies[1].WhichOneof("outcome") == "result"  # the stream is still usable
    assert grown.mib < BUDGET_MIB


async def test_raw_stream_declaring_a_huge_picture_is_refused_when_it_opens(server, stub) -> None:
    config = C(model=MODEL, encoding=C.ENCODING_RAW, width=20000, height=20000, pixel_format=C.PIXEL_FORMAT_RGB)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream(stub, config, [])
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "raw RGB frames declares 20000x20000" in caught.value.details() and LIMIT in caught.value.details()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"resize_mode": "stretch", "size": "6000,6000"}, ("size='6000,6000'", "at most 960 px a side")),
        ({"multiple": "8000"}, ("'multiple' 8000", "at most 128")),
        ({"max_side": "100000"}, ("max_side='100000'", "override_max_side 960")),
        ({"color_order": "RGB"}, ("'color_order' cannot be overridden", "overridable: ")),
    ],
)
async def test_preprocess_overrides_beyond_the_models_config_are_refused(server, stub, overrides, words) -> None:
    config = C(model=MODEL, encoding=C.ENCODING_JPEG, preprocess_overrides=overrides)
    with peak_growth(server[0]) as grown, pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream(stub, config, [])  # refused on the config alone
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert all(word in caught.value.details() for word in words), caught.value.details()
    assert grown.mib < BUDGET_MIB


async def test_an_override_within_the_bound_still_works(stub) -> None:
    config = C(model=MODEL, encoding=C.ENCODING_JPEG, preprocess_overrides={"max_side": "480"})
    (reply,) = await stream(stub, config, [encode_jpeg(scene(0)[0])])
    assert reply.WhichOneof("outcome") == "result" and len(reply.result.detections) == 3


@pytest.mark.parametrize(
    ("field", "number", "allowed"),
    [
        ("encoding", 9, "ENCODING_JPEG, ENCODING_PNG, ENCODING_RAW, ENCODING_H264"),
        ("drop_policy", 7, "DROP_POLICY_NONE, DROP_POLICY_DROP_OLDEST, DROP_POLICY_LATEST_ONLY"),
        ("pixel_format", 9, "PIXEL_FORMAT_RGB, PIXEL_FORMAT_BGR, PIXEL_FORMAT_GRAY, PIXEL_FORMAT_NV12"),
        ("returns", 5, "RETURN_RESULTS, RETURN_TENSORS, RETURN_RESULTS_AND_TENSORS"),
    ],
)
async def test_unknown_enum_values_name_the_field_and_the_choices(stub, field, number, allowed) -> None:
    config = C(model=MODEL, encoding=C.ENCODING_JPEG)
    setattr(config, field, number)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream(stub, config, [])
    details = caught.value.details()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"StreamConfig.{field} must be one of {allowed}; got {number}" in details and no_python_names(details)


@pytest.mark.parametrize(("shape", "ok"), [((1, 3, 33, 47), False), ((1, 3, 32, 64), True)])
async def test_raw_tensor_breaking_the_models_shape_rule_never_reaches_the_runtime(stub, shape, ok) -> None:
    x = np.zeros(shape, np.float32)
    request = pb.PredictRequest(
        model=MODEL, inputs=[pb.Tensor(name="x", datatype="FP32", shape=shape, raw_contents=x.tobytes())]
    )
    if ok:
        (output,) = (await stub.Predict(request, timeout=TIMEOUT)).outputs
        assert list(output.shape) == [1, 1, 32, 64]
        return
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Predict(request, timeout=TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "multiples of 32" in caught.value.details() and "[1, 3, 33, 47]" in caught.value.details()


async def test_raw_1080p_stream_with_a_huge_frame_bound_stays_within_the_byte_bound(server, stub) -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8).tobytes()  # 6 MiB; 60 of them are 356 MiB
    config = C(
        model=MODEL,
        encoding=C.ENCODING_RAW,
        width=1920,
        height=1080,
        pixel_format=C.PIXEL_FORMAT_RGB,
        max_pending=256,
        max_in_flight=16,
    )
    with peak_growth(server[0]) as grown:
        replies = await stream(stub, config, [frame] * 60)
    assert [r.WhichOneof("outcome") for r in replies] == ["result"] * 60
    assert grown.mib < BUDGET_MIB


# ------------------------------------------------- the byte bound itself, seen inside the server


@pytest.fixture(scope="module")
async def small_bound(running):
    """A Predict servicer of our own over the shared repository, with a 2 MiB stream bound."""
    require_text_detection()
    video = VideoStreams(running.server.repository, limits=MediaLimits(max_stream_pending_bytes=2 << 20))
    servicer = PredictServicer(running.server.repository, dict, DrainGate(), video=video)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 << 20)])
    predict_pb2_grpc.add_PredictServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield video, predict_pb2_grpc.PredictStub(channel)
    await server.stop(0)


@pytest.mark.parametrize("policy", [C.DROP_POLICY_NONE, C.DROP_POLICY_DROP_OLDEST])
async def test_pending_frames_are_bounded_in_bytes_not_only_in_count(small_bound, policy) -> None:
    video, stub = small_bound
    image = scene(0)[0]
    frame, frame_bytes = image.tobytes(), image.nbytes  # 900 KiB: the bound holds two
    config = C(
        model=MODEL,
        encoding=C.ENCODING_RAW,
        width=640,
        height=480,
        pixel_format=C.PIXEL_FORMAT_RGB,
        drop_policy=policy,
        max_pending=256,
        max_in_flight=16,
    )
    peaks: list[int] = []

    def requests():
        yield vpb.StreamVideoRequest(config=config)
        for i in range(40):
            peaks.extend(s.queue.peak_bytes for s in video.active)
            yield vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=i, data=frame))

    replies = [r async for r in stub.StreamVideo(requests(), timeout=TIMEOUT)]
    outcomes = [r.WhichOneof("outcome") for r in replies]
    assert [r.index for r in replies] == list(range(40)) and "error" not in outcomes
    if policy == C.DROP_POLICY_NONE:
        assert outcomes == ["result"] * 40  # flow control: nothing dropped
    # Waiting plus in the model: never more than the bound and one frame, whatever max_pending says.
    assert peaks and max(peaks) <= (2 << 20) + frame_bytes


async def test_reply_tensors_the_client_does_not_read_stop_the_reader(small_bound) -> None:
    video, stub = small_bound
    data = encode_jpeg(scene(0)[0])  # its reply tensor is 1x1x256x320 FP32: 320 KiB
    call = stub.StreamVideo(timeout=TIMEOUT)
    await call.write(vpb.StreamVideoRequest(config=C(model=MODEL, encoding=C.ENCODING_JPEG, returns=C.RETURN_TENSORS)))

    async def write() -> None:
        for i in range(40):
            await call.write(vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=i, data=data)))
        await call.done_writing()

    writer = asyncio.ensure_future(write())
    # Not reading: once gRPC's windows are full, finished replies pile up until the reader stops.
    while not any(s.waiting_for_client for s in video.active):
        await asyncio.sleep(0)  # one loop turn (no time passes)
    (session,) = video.active
    assert session.unsent_bytes <= (2 << 20) + 320 * 256 * 4
    replies = [r async for r in call]  # reading again lets the stream finish
    await writer
    assert [r.index for r in replies] == list(range(40))
    assert all(r.WhichOneof("outcome") == "result" and r.result.tensors for r in replies)


def test_the_pixel_limit_is_a_setting_the_server_process_honours(tmp_path) -> None:
    """SWITCHYARD_MAX_IMAGE_PIXELS reaches unary image Predict and StreamVideo in a real process."""
    model = require_text_detection()
    with serving(sys.executable, text_detector_repository(tmp_path, model), "--max-image-pixels", "10000") as (
        _,
        address,
    ):
        picture = encode_jpeg(scene(0)[0])  # 640x480: fine by default, over a 10,000-pixel limit
        with grpc.insecure_channel(address) as channel:
            stub = predict_pb2_grpc.PredictStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(image_request(picture), timeout=TIMEOUT)
            assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "10000" in caught.value.details() and "640x480" in caught.value.details()
            config = vpb.StreamConfig(model=MODEL, encoding=C.ENCODING_JPEG)
            frames = [vpb.StreamVideoRequest(config=config), vpb.StreamVideoRequest(frame=vpb.VideoFrame(data=picture))]
            (reply,) = list(stub.StreamVideo(iter(frames), timeout=TIMEOUT))
            assert reply.HasField("error") and "10000" in reply.error.message
