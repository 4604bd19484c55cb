"""The default CPU choice by measurement, through real servers: timed at the first start, read back at the next."""

from __future__ import annotations

import os

from tests.conftest import require_text_detection
from tests.integration.conftest import make_settings, start_server

CPU, OV = "onnxruntime[CPU]@cpu", "openvino@cpu"


def repository(tmp_path):
    """The detector as shipped (backend: auto), and the same pinned to ONNX Runtime."""
    model = require_text_detection()
    shipped = (model.parent.parent / "config.yaml").read_text()
    for name, config in (("detector", shipped), ("pinned", shipped.replace("backend: auto", "backend: onnxruntime"))):
        (tmp_path / "repo" / name / "1").mkdir(parents=True)
        os.symlink(model, tmp_path / "repo" / name / "1" / "model.onnx")
        (tmp_path / "repo" / name / "config.yaml").write_text(config)
    return tmp_path / "repo"


async def steps(running, model: str) -> dict:
    info = await running.client.get_model(model)
    return {s.label: s for s in info.versions[0].selection if s.label in (CPU, OV)}


async def test_the_first_start_times_both_runtimes_and_the_next_reads_the_decision(tmp_path):
    settings = make_settings(repository(tmp_path), cache_dir=tmp_path / "cache")
    async for running in start_server(settings):
        first = await steps(running, "detector")
        chosen = next(s for s in first.values() if s.outcome == "chosen")
        other = next(s for s in first.values() if s is not chosen)
        assert other.outcome == "timed" and other.seconds > 0  # seconds: its load time
        assert chosen.reason.startswith("fastest: median ") and chosen.reason.endswith(" ms")
        assert other.reason.startswith("median ") and other.reason.endswith(f"slower than {chosen.label}")
        pinned = await steps(running, "pinned")
        assert pinned[CPU].outcome == "chosen" and "median" not in pinned[CPU].reason
        assert pinned[OV].outcome == "skipped" and pinned[OV].reason == "backend onnxruntime requested"
    async for running in start_server(settings):
        again = await steps(running, "detector")
        assert again[chosen.label].outcome == "chosen"
        assert again[chosen.label].reason.endswith("(cached timing)")
        assert again[other.label].outcome == "timed" and again[other.label].reason.startswith("cached timing: median")
