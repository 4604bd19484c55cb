"""Selection "auto": the faster CPU runtime by measurement, timed once per machine and remembered."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from backends.loading import Outcome, load_with_fallback
from backends.probe import probe
from backends.registry import create_backend
from backends.selection import Preferences, auto_selection, select_candidates
from backends.timing import TimingCache
from tests.backends.test_selection import machine
from tests.conftest import require_text_detection
from tests.fixtures.models import add_model

CPU, OV = "onnxruntime[CPU]@cpu", "openvino@cpu"


@pytest.mark.parametrize(
    "name,prefs,expected",
    [
        ("cpu-container-quota", Preferences(), "fastest"),  # ONNX Runtime and OpenVINO both read model.onnx
        ("cpu-container-quota", Preferences(backend="onnxruntime"), "first"),  # config.yaml pins a backend
        ("cpu-container-quota", Preferences(providers=("CPUExecutionProvider",)), "first"),
        ("cpu-container-quota", Preferences(strict=True), "first"),
        ("cpu-container-quota", Preferences(device="cpu"), "fastest"),  # a device is not a backend
        ("nvidia-1x", Preferences(), "first"),  # GPUs keep the policy's order
        ("intel-igpu-npu", Preferences(), "first"),
    ],
)
def test_auto_times_only_where_several_cpu_runtimes_could_serve(name, prefs, expected):
    candidates = select_candidates(machine(name), "onnx", prefs)
    assert auto_selection(candidates, prefs.strict) == expected


class Counting:
    """The real backend registry, counting which runtimes get loaded."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, name: str):
        self.made.append(name)
        return create_backend(name)


@pytest.fixture(scope="module")
def report():
    return probe()


def detector_inputs(signature):
    """The detector's input as served: a 640x480 frame preprocessed to 320x256."""
    return {"x": np.random.default_rng(0).random((1, 3, 256, 320), dtype=np.float32)}


def load(report, model_dir: Path, cache: TimingCache, prefs: Preferences | None = None, **kwargs):
    counting = Counting()
    prefs = prefs or Preferences()
    result = load_with_fallback(
        select_candidates(report, model_dir, prefs),
        model_dir,
        create_backend=counting,
        selection=prefs.selection,
        timing_cache=cache,
        **kwargs,
    )
    result.backend.unload()
    return result, counting.made


def test_the_faster_runtime_serves_the_detector_and_a_restart_reads_the_decision(report, tmp_path, caplog):
    model_dir = require_text_detection().parent
    cache = TimingCache(tmp_path / "timings", report)
    result, made = load(report, model_dir, cache, warmup=detector_inputs)
    assert sorted(made) == ["onnxruntime", "openvino"] and result.trail.selection == "fastest"
    entries = {e.label: e for e in result.trail.entries}
    chosen, other = (entries[CPU], entries[OV]) if result.trail.chosen_label == CPU else (entries[OV], entries[CPU])
    assert chosen.outcome is Outcome.CHOSEN and other.outcome is Outcome.TIMED
    assert chosen.infer_seconds is not None and other.infer_seconds is not None
    assert chosen.infer_seconds <= other.infer_seconds
    assert chosen.reason == f"fastest: median {chosen.infer_seconds * 1e3:.3g} ms"
    assert other.reason == f"median {other.infer_seconds * 1e3:.3g} ms, slower than {chosen.label}"
    assert other.load_seconds is not None and chosen.load_seconds is not None  # GetModel's SelectionStep.seconds
    assert len(list(cache.directory.glob("*.json"))) == 1

    with caplog.at_level(logging.INFO, logger="switchyard.selection"):
        again, made = load(report, model_dir, cache, warmup=detector_inputs)
    assert made == [chosen.backend]  # only the winner loads: nothing is timed again
    assert again.trail.chosen_label == chosen.label
    remembered = {e.label: e for e in again.trail.entries}
    assert remembered[chosen.label].reason.endswith("(cached timing)")
    assert remembered[other.label].outcome is Outcome.TIMED
    assert remembered[other.label].reason.startswith("cached timing: median")
    assert remembered[other.label].infer_seconds == other.infer_seconds
    assert "timings came from the cache" in caplog.text


def test_another_input_shape_or_runtime_version_is_timed_afresh(report, tmp_path):
    model_dir = require_text_detection().parent
    cache = TimingCache(tmp_path / "timings", report)
    load(report, model_dir, cache, warmup=detector_inputs)
    # The config now preprocesses to another size: the remembered medians do not apply.
    smaller = {"x": np.zeros((1, 3, 128, 160), np.float32)}
    result, made = load(report, model_dir, cache, warmup=lambda signature: smaller)
    assert sorted(made) == ["onnxruntime", "openvino"]
    assert not any("cached" in e.reason for e in result.trail.entries)
    candidates = [c for c in select_candidates(report, model_dir) if c.viable]
    paths = {c.label: model_dir / "model.onnx" for c in candidates}
    key = cache.key(paths, candidates)
    timing = cache.get(key)
    assert timing is not None and timing.inputs == {"x": [[1, 3, 128, 160], "float32"]}
    runtimes = tuple(dataclasses.replace(r, version="0.0.1") if r.name == "openvino" else r for r in report.runtimes)
    upgraded = TimingCache(cache.directory, dataclasses.replace(report, runtimes=runtimes))
    assert upgraded.key(paths, candidates) != key
    (cache.directory / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None  # a damaged file means timing again, not a failed load


def test_a_pinned_backend_is_never_timed(report, tmp_path):
    model_dir = require_text_detection().parent
    cache = TimingCache(tmp_path / "timings", report)
    result, made = load(report, model_dir, cache, Preferences(backend="openvino"), warmup=detector_inputs)
    assert made == ["openvino"] and result.trail.selection == "first"
    chosen = result.trail.chosen
    assert chosen is not None and chosen.label == OV and chosen.infer_seconds is None and chosen.reason == ""
    assert not cache.directory.exists()


def test_a_model_under_a_millisecond_keeps_the_first_runtime_without_loading_others(report, tmp_path):
    model_dir = tmp_path / "add" / "1"
    model_dir.mkdir(parents=True)
    (model_dir / "model.onnx").write_bytes(add_model().SerializeToString())
    cache = TimingCache(tmp_path / "timings", report)
    # A floor far above this model's microseconds, so a busy machine cannot push it over.
    result, made = load(report, model_dir, cache, floor_seconds=0.05)
    assert made == ["onnxruntime"] and result.trail.chosen_label == CPU
    chosen = result.trail.chosen
    assert chosen is not None and chosen.infer_seconds is not None and chosen.infer_seconds < 0.05
    assert chosen.reason.endswith("other runtimes not worth timing")
    skipped = next(e for e in result.trail.entries if e.label == OV)
    assert skipped.outcome is Outcome.SKIPPED and skipped.reason.startswith(f"not timed: {CPU} answers in")
    assert not cache.directory.exists()
