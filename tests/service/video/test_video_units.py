"""Pure parts of StreamVideo: the drop-policy queue, stream options, result tensors, client messages."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients.video_messages import FrameResult, SendTimes, decode_response, stream_config
from protos.errors import InvalidInputError
from protos.switchyard.v1 import video_pb2 as vpb
from service.predict.image import result_tensors
from service.video.messages import Timings, dropped_response, error_response, result_response, stream_options
from service.video.queue import DropQueue
from service.vision.postprocess import Classification, Detection


async def test_drop_oldest_keeps_the_newest_and_returns_what_it_pushed_out() -> None:
    queue: DropQueue[int] = DropQueue("drop_oldest", 2)
    assert await queue.put(1) == [] and await queue.put(2) == []
    assert await queue.put(3) == [1]
    assert await queue.put(4) == [2]
    assert [await queue.get(), await queue.get()] == [3, 4] and queue.peak == 2


async def test_latest_only_keeps_one() -> None:
    queue: DropQueue[int] = DropQueue("latest_only", 8)
    await queue.put(1)
    assert await queue.put(2) == [1] and len(queue) == 1


async def test_none_waits_for_room_instead_of_dropping() -> None:
    queue: DropQueue[int] = DropQueue("none", 1)
    await queue.put(1)
    blocked = asyncio.ensure_future(queue.put(2))
    await asyncio.sleep(0)  # yield one loop turn (no time passes): put() is now parked on the full queue
    assert not blocked.done()
    assert await queue.get() == 1
    assert await blocked == [] and await queue.get() == 2


async def test_drop_oldest_drops_by_bytes_long_before_the_count_bound() -> None:
    queue: DropQueue[int] = DropQueue("drop_oldest", 256, max_bytes=100)
    assert await queue.put(1, 40) == [] and await queue.put(2, 40) == []
    assert await queue.put(3, 40) == [1]  # 120 bytes would not fit; 2 frames waiting, far from 256
    assert await queue.get() == 2  # taken into the model: its bytes still count until released
    assert await queue.put(4, 40) == [3]  # 2 in the model + 3 waiting + 4 would be 120
    assert (queue.held_bytes, queue.waiting_bytes, len(queue), queue.peak_bytes) == (40, 40, 1, 80)


async def test_bytes_held_by_the_model_count_until_released() -> None:
    queue: DropQueue[int] = DropQueue("drop_oldest", 8, max_bytes=100)
    await queue.put(1, 60)
    assert await queue.get() == 1
    # Nothing waits, 60 bytes are in the model: a 60-byte frame is still let in (one frame over).
    assert await queue.put(2, 60) == []
    assert await queue.put(3, 60) == [2]  # ...but the next one pushes the waiting one out
    taking = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)  # one loop turn (no time passes): get() waits, the model has no room
    assert not taking.done()
    queue.release(60)
    assert await taking == 3 and queue.peak_bytes == 120


async def test_none_waits_for_bytes_as_well_as_frames() -> None:
    queue: DropQueue[int] = DropQueue("none", 256, max_bytes=100)
    await queue.put(1, 80)
    blocked = asyncio.ensure_future(queue.put(2, 80))
    await asyncio.sleep(0)  # one loop turn (no time passes): put() is parked on the byte bound
    assert not blocked.done()
    assert await queue.get() == 1
    await asyncio.sleep(0)
    assert not blocked.done()  # frame 1 is in the model now, its bytes still count
    queue.release(80)
    assert await blocked == [] and await queue.get() == 2 and queue.peak_bytes == 80


async def test_one_frame_larger_than_the_bound_still_passes_alone() -> None:
    queue: DropQueue[int] = DropQueue("none", 4, max_bytes=100)
    assert await queue.put(1, 500) == [] and await queue.get() == 1


async def test_close_drains_then_ends() -> None:
    queue: DropQueue[int] = DropQueue("none", 4)
    await queue.put(7)
    queue.close()
    assert await queue.get() == 7 and await queue.get() is None


def test_stream_options_from_the_wire() -> None:
    config = stream_config(
        "m",
        encoding="raw",
        width=64,
        height=48,
        pixel_format="NV12",
        drop_policy="latest_only",
        returns="results_and_tensors",
        postprocess={"box_thresh": 0.5},
    )
    options = stream_options(config)
    assert (options.encoding, options.width, options.height, options.pixel_format) == ("raw", 64, 48, "NV12")
    assert options.drop_policy == "latest_only" and options.want_results and options.want_tensors
    assert options.postprocess_overrides == {"box_thresh": "0.5"} and options.max_pending == 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(model=""), "model is required"),
        (dict(model="m", encoding="raw"), "width and height"),
        (dict(model="m", max_in_flight=1000), "max_in_flight"),
    ],
)
def test_bad_stream_options(kwargs, words) -> None:
    model = kwargs.pop("model")
    with pytest.raises(InvalidInputError, match=words):
        stream_options(stream_config(model, **kwargs))


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            vpb.StreamConfig(model="m"),
            "encoding must be one of ENCODING_JPEG, ENCODING_PNG, ENCODING_RAW, ENCODING_H264; "
            "got ENCODING_UNSPECIFIED",
        ),
        (
            vpb.StreamConfig(model="m", encoding="ENCODING_RAW", width=4, height=4),
            "pixel_format must be one of .*; got PIXEL_FORMAT_UNSPECIFIED",
        ),
        # pixel_format means nothing for JPEG, but a number no version of the enum has is a client bug.
        (  # as it arrives: model "m", field 3 (encoding) JPEG, field 6 (pixel_format) 9
            vpb.StreamConfig.FromString(b"\n\x01m\x18\x04\x30\x09"),
            "pixel_format must be one of PIXEL_FORMAT_RGB, .*; got 9",
        ),
        # Numbers only a newer peer would send, as they arrive: field 3 (encoding), field 10 (returns).
        (vpb.StreamConfig.FromString(b"\n\x01m\x18\x63"), "encoding must be one of .*; got 99"),
        (vpb.StreamConfig.FromString(b"\n\x01m\x18\x01\x50\x07"), "returns must be one of .*; got 7"),
    ],
)
def test_enum_values_without_a_meaning_are_refused_by_name(config, words) -> None:
    with pytest.raises(InvalidInputError, match=words):
        stream_options(config)


def test_unspecified_policy_and_returns_mean_the_documented_defaults() -> None:
    options = stream_options(vpb.StreamConfig(model="m", encoding="ENCODING_JPEG"))
    assert options.drop_policy == "none" and (options.max_pending, options.max_in_flight) == (2, 2)
    assert options.want_results and not options.want_tensors and options.pixel_format is None


def test_client_rejects_unknown_choices() -> None:
    with pytest.raises(ValueError, match="drop_policy"):
        stream_config("m", drop_policy="sometimes")


def test_result_error_and_drop_round_trip_through_the_client_decoder() -> None:
    times = SendTimes()
    request = times.request(b"abc")
    assert request.frame.index == 0 and request.frame.pts == 0
    det = Detection((1, 2, 30, 40), 0.9, "text", polygon=((1, 2), (30, 2), (30, 40), (1, 40)))
    response = result_response(0, 0, (480, 640), [det], {"p": np.ones((1, 2), np.float32)}, Timings(infer_ms=5))
    result = decode_response(response, times)
    polygon = result.detections[0].polygon
    assert result.ok and result.detections[0].box == (1, 2, 30, 40) and polygon is not None and len(polygon) == 4
    assert result.tensors["p"].shape == (1, 2) and result.timings["infer_ms"] == 5 and result.latency_ms is not None
    assert (result.width, result.height) == (640, 480)
    line = result.to_json()
    assert line["boxes"] == [[1, 2, 30, 40]] and line["labels"] == ["text"]
    error = decode_response(error_response(3, 9, InvalidInputError("bad")), times)
    assert error.error is not None
    assert error.error.code is grpc.StatusCode.INVALID_ARGUMENT and error.to_json()["error"]["message"] == "bad"
    dropped = decode_response(dropped_response(4, 10, "drop_oldest", 2), times)
    assert dropped.dropped == "QUEUE_FULL" and dropped.to_json()["dropped"]["reason"] == "QUEUE_FULL"
    assert isinstance(dropped, FrameResult) and not dropped.ok


def test_result_tensor_names_do_not_depend_on_the_count() -> None:
    empty = result_tensors([], "db_text")
    assert empty["boxes"].shape == (0, 4) and empty["polygons"].shape == (0, 4, 2) and empty["labels"].shape == (0,)
    boxes = result_tensors([Detection((0, 0, 1, 1), 0.5, "car", 3)], "box_detection")
    assert "polygons" not in boxes and boxes["class_ids"].tolist() == [3] and boxes["labels"].tolist() == [b"car"]
    classes = result_tensors([Classification("cat", 281, 0.8)], "classification")
    assert sorted(classes) == ["class_ids", "labels", "scores"] and classes["class_ids"].tolist() == [281]


def test_every_named_stream_config_value_is_accepted_by_the_server() -> None:
    """A value added to video.proto without the server learning it fails here, not on a client."""
    enums = vpb.StreamConfig.DESCRIPTOR.enum_types_by_name
    for field, enum, prefix in (
        ("encoding", "Encoding", "ENCODING_"),
        ("pixel_format", "PixelFormat", "PIXEL_FORMAT_"),
        ("drop_policy", "DropPolicy", "DROP_POLICY_"),
        ("returns", "Return", "RETURN_"),
    ):
        for value in enums[enum].values:
            if value.number == 0:
                continue
            config = vpb.StreamConfig(
                model="m", encoding="ENCODING_RAW", width=2, height=2, pixel_format="PIXEL_FORMAT_RGB"
            )
            setattr(config, field, value.number)
            options = stream_options(config)
            word = value.name.removeprefix(prefix)
            if field == "encoding":
                assert options.encoding == word.lower()
            elif field == "pixel_format":
                assert options.pixel_format == word
            elif field == "drop_policy":
                assert options.drop_policy == word.lower()
            else:
                wanted = {"RESULTS": (True, False), "TENSORS": (False, True), "RESULTS_AND_TENSORS": (True, True)}[word]
                assert (options.want_results, options.want_tensors) == wanted
