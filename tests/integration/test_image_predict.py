"""Unary Predict on an image: one BYTES input `image` to a model that declares pre/postprocessing."""

from __future__ import annotations

import cv2
import grpc
import numpy as np
import pytest

from clients.errors import PredictError
from clients.request import build_request
from tests.conftest import require_text_detection
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.test_video_support import finds_all_words, scene

MODEL = "text_detection"


def image_input(data: bytes) -> dict[str, np.ndarray]:
    return {"image": np.array([data], dtype=object)}


@pytest.fixture(autouse=True)
def _model() -> None:
    require_text_detection()


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
async def test_image_in_detections_out(running, fmt) -> None:
    image, truth = scene(3)
    data = encode_jpeg(image) if fmt == "jpeg" else cv2.imencode(".png", image[:, :, ::-1])[1].tobytes()
    out = await running.client.predict(MODEL, image_input(data))
    k = len(out["scores"])
    assert k == 3
    assert out["boxes"].shape == (k, 4) and out["boxes"].dtype == np.float32
    assert out["scores"].dtype == np.float32 and (out["scores"] >= 0.6).all()
    assert list(out["labels"]) == [b"text"] * k
    assert out["polygons"].shape == (k, 4, 2) and out["class_ids"].shape == (k,)
    assert finds_all_words(out["boxes"].tolist(), truth)


async def test_same_model_still_takes_raw_tensors(running) -> None:
    x = np.zeros((1, 3, 64, 96), np.float32)
    out = await running.client.predict(MODEL, {"x": x})
    (prob,) = out.values()
    assert prob.shape == (1, 1, 64, 96)


async def test_selected_outputs_only(running) -> None:
    out = await running.client.predict(MODEL, image_input(encode_jpeg(scene(0)[0])), outputs=["boxes", "scores"])
    assert sorted(out) == ["boxes", "scores"]
    with pytest.raises(PredictError) as caught:
        await running.client.predict(MODEL, image_input(encode_jpeg(scene(0)[0])), outputs=["nope"])
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and "nope" in caught.value.details


async def test_blank_image_gives_empty_tensors_of_the_same_names(running) -> None:
    blank = np.full((120, 160, 3), 200, np.uint8)
    out = await running.client.predict(MODEL, image_input(encode_jpeg(blank)))
    assert out["boxes"].shape == (0, 4) and out["polygons"].shape == (0, 4, 2) and out["labels"].shape == (0,)


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"\xff\xd8 truncated", "corrupt jpeg"), (b"GIF89a....", "neither JPEG nor PNG")],
)
async def test_bad_image_is_invalid_argument(running, data, words) -> None:
    with pytest.raises(PredictError) as caught:
        await running.client.predict(MODEL, image_input(data))
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and words in caught.value.details


async def test_two_images_in_one_request_are_refused(running) -> None:
    data = encode_jpeg(scene(0)[0])
    with pytest.raises(PredictError) as caught:
        await running.client.predict(MODEL, {"image": np.array([data, data], dtype=object)})
    assert "exactly one image" in caught.value.details


async def test_image_requests_over_predict_stream(running) -> None:
    requests = [build_request(MODEL, image_input(encode_jpeg(scene(i)[0])), request_id=str(i)) for i in range(3)]
    requests.insert(1, build_request(MODEL, image_input(b"\xff\xd8 broken"), request_id="bad"))
    replies = [r async for r in running.client.predict_stream(requests)]
    assert isinstance(replies[1], PredictError)
    assert [len(r["boxes"]) for i, r in enumerate(replies) if i != 1] == [3, 3, 3]
