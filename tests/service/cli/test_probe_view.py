"""The readable probe table and the decision-trail table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from backends.base import Device
from backends.loading import DecisionTrail, Outcome, TrailEntry
from backends.probe import ProbeIssue, RuntimeInfo, probe
from service.cli.probe_view import render_report, render_trail

SYSROOTS = Path(__file__).resolve().parents[2] / "fixtures" / "sysroots"


def text_of(renderable) -> str:
    console = Console(record=True, width=220, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_report_table_shows_gpus_cpu_limits_runtimes_and_issues():
    report = probe(
        SYSROOTS / "nvidia-2x",
        runtimes=(
            RuntimeInfo(
                "onnxruntime", True, "1.22.0", "onnxruntime-gpu", ("CUDAExecutionProvider", "CPUExecutionProvider")
            ),
            RuntimeInfo("tensorrt", False, error="ImportError: libnvinfer.so.10"),
        ),
    )
    report = type(report)(**{**report.__dict__, "issues": (ProbeIssue("nvml", "NVMLError_DriverNotLoaded"),)})
    text = text_of(render_report(report))
    assert text.count("NVIDIA L4") == 2 and "sm 8.9" in text and "0000:5e:00.0" in text
    assert "16 usable of 16" in text and "amx_bf16" in text
    assert "onnxruntime (onnxruntime-gpu)" in text and "CUDA, CPU" in text
    assert "libnvinfer.so.10" in text and "NVMLError_DriverNotLoaded" in text


def test_report_table_for_a_cpu_container():
    text = text_of(render_report(probe(SYSROOTS / "cpu-container-quota", runtimes=())))
    assert "1.5 usable of 16 (cgroup quota 1.5) (affinity 8)" in text
    assert "4.0 GiB (cgroup limit" in text and "none found" in text


def test_trail_table_marks_each_outcome():
    trail = DecisionTrail(
        (
            TrailEntry(
                "onnxruntime[CUDA]@nvidia:gpu:0",
                "onnxruntime",
                str(Device("gpu", 0)),
                ("CUDAExecutionProvider",),
                Outcome.FAILED,
                "could not start CUDAExecutionProvider",
                0.0123,
            ),
            TrailEntry(
                "onnxruntime[CPU]@cpu", "onnxruntime", "cpu", ("CPUExecutionProvider",), Outcome.CHOSEN, "", 0.002
            ),
        )
    )
    text = text_of(render_trail(trail))
    assert "(fallback, first): onnxruntime[CPU]@cpu" in text
    assert "failed" in text and "0.012s" in text and "could not start CUDAExecutionProvider" in text
