"""The response cache on real servers: local and Redis tiers, both protocols, failures as misses."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from prometheus_client import generate_latest

from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from tests.conftest import DEFAULT_REPOSITORY, require_text_detection, write_model
from tests.fixtures import models
from tests.fixtures.redis_server import RedisProcess, redis_server
from tests.fixtures.vision.scenes import encode_jpeg
from tests.integration.conftest import Running, make_settings, start_server
from tests.integration.test_video_support import scene

CACHED = "backend: onnxruntime\nresponse_cache: {enabled: true, ttl_seconds: 60}\n"


@pytest.fixture
def cache_repo(tmp_path) -> Path:
    write_model(tmp_path, "add", models.add_model(), CACHED)
    write_model(tmp_path, "add_plain", models.add_model(), "backend: onnxruntime\n")
    return tmp_path


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    with redis_server() as server:
        yield server


@asynccontextmanager
async def serving(repo: Path, **settings) -> AsyncIterator[Running]:
    async for running in start_server(make_settings(repo, **settings)):
        yield running


def inputs(value: float = 1.0) -> dict[str, np.ndarray]:
    return {"a": np.full((1, 4), value, np.float32), "b": np.arange(4, dtype=np.float32).reshape(1, 4)}


def stats(running: Running, model: str = "add"):
    return running.server.repository.get(model).ready_runner.stats


def oip_request(model: str, values: dict[str, np.ndarray]) -> oip.ModelInferRequest:
    request = oip.ModelInferRequest(model_name=model)
    for name, array in values.items():
        request.inputs.add(name=name, datatype="FP32", shape=array.shape)
        request.raw_input_contents.append(array.tobytes())
    return request


async def test_a_repeat_is_answered_from_the_local_tier_by_either_protocol(cache_repo):
    async with serving(cache_repo, cache_bytes=1 << 20) as running:
        first = await running.client.predict("add", inputs())
        assert stats(running).inference_count == 1
        again = await running.client.predict("add", inputs())
        for name in first:
            np.testing.assert_array_equal(again[name], first[name])
        reply = await oip_grpc.GRPCInferenceServiceStub(running.channel).ModelInfer(oip_request("add", inputs()))
        names = [o.name for o in reply.outputs]
        np.testing.assert_array_equal(
            np.frombuffer(reply.raw_output_contents[names.index("sum")], np.float32), first["sum"].reshape(-1)
        )
        assert stats(running).inference_count == 1  # neither repeat reached the runner
        assert (stats(running).cache_hit_count, stats(running).cache_miss_count) == (2, 1)
        statistics = await oip_grpc.GRPCInferenceServiceStub(running.channel).ModelStatistics(
            oip.ModelStatisticsRequest(name="add")
        )
        infer = statistics.model_stats[0].inference_stats
        assert (infer.cache_hit.count, infer.cache_miss.count) == (2, 1)
        assert infer.cache_hit.ns > 0
        figures = (await running.client.get_model("add")).statistics
        assert (figures.cache_hits, figures.cache_misses) == (2, 1)
        assert figures.cache_hit_ratio == pytest.approx(2 / 3)
        assert figures.execution_count == 1  # the hits never reached the model
        scrape = generate_latest(running.server.metrics.registry).decode()
        assert 'switchyard_cache_hits_total{model="add",tier="local"} 2.0' in scrape
        assert 'switchyard_cache_misses_total{model="add"} 1.0' in scrape
        assert "switchyard_cache_entries 1.0" in scrape


async def test_models_that_did_not_opt_in_and_failed_requests_are_not_cached(cache_repo):
    async with serving(cache_repo, cache_bytes=1 << 20) as running:
        for _ in range(2):
            await running.client.predict("add_plain", inputs())
        assert stats(running, "add_plain").inference_count == 2
        assert stats(running, "add_plain").cache_miss_count == 0
        figures = (await running.client.get_model("add_plain")).statistics
        assert (figures.cache_hits, figures.cache_misses, figures.cache_hit_ratio) == (0, 0, 0.0)
        bad = {"a": np.ones((1, 5), np.float32), "b": np.ones((1, 5), np.float32)}
        for _ in range(2):
            with pytest.raises(Exception, match="shape"):
                await running.client.predict("add", bad)
        assert stats(running).cache_miss_count == 2  # both looked up, neither stored
        cache = running.server.cache
        assert cache is not None and cache.local is not None and cache.local.entries == 0


async def test_any_difference_in_the_request_is_a_miss(cache_repo):
    async with serving(cache_repo, cache_bytes=1 << 20) as running:
        await running.client.predict("add", inputs())
        changed = inputs()
        changed["b"].reshape(-1).view(np.uint8)[0] ^= 1  # one bit of one byte
        await running.client.predict("add", changed)
        await running.client.predict("add", inputs(), outputs=["sum"])
        await running.client.predict("add", {k: np.repeat(v, 2, axis=0) for k, v in inputs().items()})
        assert stats(running).cache_hit_count == 0
        assert stats(running).cache_miss_count == 4


def _swapped_add_model() -> onnx.ModelProto:
    """Same signature as add_model, other answers: sum = a - b, diff = a + b."""
    graph = helper.make_graph(
        [helper.make_node("Sub", ["a", "b"], ["sum"]), helper.make_node("Add", ["a", "b"], ["diff"])],
        "swapped",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("sum", "diff")],
    )
    return models._model(graph)


async def test_a_new_artifact_under_the_same_version_never_meets_old_answers(cache_repo, redis_process):
    async with serving(cache_repo, cache_bytes=1 << 20, cache_redis=redis_process.url) as running:
        before = await running.client.predict("add", inputs())
        onnx.save(_swapped_add_model(), cache_repo / "add" / "1" / "model.onnx")
        await running.server.repository.load("add")
        after = await running.client.predict("add", inputs())
        np.testing.assert_array_equal(after["sum"], before["diff"])
        assert stats(running).cache_hit_count == 0 and stats(running).inference_count == 1


async def test_two_servers_share_answers_through_redis(cache_repo, redis_process):
    async with (
        serving(cache_repo, cache_redis=redis_process.url, cache_lookup_timeout_ms=1000) as one,
        serving(cache_repo, cache_bytes=1 << 20, cache_redis=redis_process.url, cache_lookup_timeout_ms=1000) as two,
    ):
        computed = await one.client.predict("add", inputs(3.0))
        assert one.server.cache is not None and one.server.cache.shared is not None
        await one.server.cache.shared.flush_pending()
        answered = await two.client.predict("add", inputs(3.0))
        np.testing.assert_array_equal(answered["sum"], computed["sum"])
        assert stats(two).inference_count == 0
        assert stats(two).cache_hit_count == 1
        cache = two.server.cache
        assert cache is not None and cache.stats.hits == {("add", "redis"): 1}
        await two.client.predict("add", inputs(3.0))  # now from its own local tier
        assert cache.stats.hits == {("add", "redis"): 1, ("add", "local"): 1}


async def test_redis_stopping_mid_run_turns_lookups_into_misses_not_failures(cache_repo, redis_process):
    async with serving(cache_repo, cache_redis=redis_process.url, cache_lookup_timeout_ms=1000) as running:
        await running.client.predict("add", inputs(1.0))
        cache = running.server.cache
        assert cache is not None and cache.shared is not None
        await cache.shared.flush_pending()
        await running.client.predict("add", inputs(1.0))
        assert stats(running).cache_hit_count == 1
        redis_process.stop()
        for value in (1.0, 1.0, 2.0):
            result = await running.client.predict("add", inputs(value))
            np.testing.assert_array_equal(result["sum"], inputs(value)["a"] + inputs(value)["b"])
        await cache.shared.flush_pending()
        assert stats(running).cache_hit_count == 1
        assert stats(running).inference_count == 4
        assert stats(running).failure_count == 0
        assert cache.shared.errors >= 3
        scrape = generate_latest(running.server.metrics.registry).decode()
        assert f"switchyard_cache_errors_total {float(cache.shared.errors)}" in scrape


async def test_image_predict_repeats_are_answered_with_the_postprocessed_results(tmp_path):
    artifact = require_text_detection()
    (tmp_path / "text_detection" / "1").mkdir(parents=True)
    config = (DEFAULT_REPOSITORY / "text_detection" / "config.yaml").read_text()
    (tmp_path / "text_detection" / "config.yaml").write_text(config + "response_cache: {enabled: true}\n")
    os.symlink(artifact, tmp_path / "text_detection" / "1" / "model.onnx")
    image = {"image": np.array([encode_jpeg(scene(2)[0])], dtype=object)}
    async with serving(tmp_path, cache_bytes=1 << 20) as running:
        first = await running.client.predict("text_detection", image)
        again = await running.client.predict("text_detection", image)
        assert sorted(again) == sorted(first) and len(first["scores"]) > 0
        for name in first:
            assert again[name].dtype == first[name].dtype
            np.testing.assert_array_equal(again[name], first[name])
        only_boxes = await running.client.predict("text_detection", image, outputs=["boxes"])
        assert list(only_boxes) == ["boxes"]
        runner_stats = stats(running, "text_detection")
        assert runner_stats.inference_count == 2  # the first request and the one asking other outputs
        assert (runner_stats.cache_hit_count, runner_stats.cache_miss_count) == (1, 2)
