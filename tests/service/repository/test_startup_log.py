"""Start-up: one log line per model (name, versions, state, backend, device, load time), then the tally."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

from backends.loading import DecisionTrail, Outcome, TrailEntry
from service.repository.entries import ModelEntry, ModelState, ModelVersion
from service.repository.summary import COLUMNS, model_line, summary_rows
from tests.conftest import write_model
from tests.fixtures import models


def lines_about(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.INFO and f"model {name}" in r.getMessage()]


async def test_one_line_per_model_with_versions_state_backend_device_and_time(make_repository, repo, caplog):
    write_model(repo, "two", models.add_model(), "version_policy: {all: true}\n", version=1)
    write_model(repo, "two", models.add_model(), "version_policy: {all: true}\n", version=2)
    with caplog.at_level(logging.DEBUG):  # even with every logger on, INFO and up holds one line per model
        await make_repository(repo).load_all()

    [tiny] = lines_about(caplog, "tiny_cnn")
    assert tiny.levelno == logging.INFO
    assert tiny.getMessage().startswith("model tiny_cnn: version 1 READY on onnxruntime (cpu), loaded in ")
    assert tiny.getMessage().endswith("s")

    [two] = lines_about(caplog, "two")
    assert "version 1 READY on onnxruntime (cpu)" in two.getMessage()
    assert "; version 2 READY on onnxruntime (cpu)" in two.getMessage()

    [corrupt] = lines_about(caplog, "corrupt")
    assert corrupt.levelno == logging.ERROR
    assert corrupt.getMessage().startswith("model corrupt: version 1 UNAVAILABLE: [ONNXRuntimeError] : 7 : ")

    [triton] = lines_about(caplog, "from_triton")
    assert triton.levelno == logging.WARNING


async def test_summary_rows_match_the_table_columns(make_repository, repo):
    repository = make_repository(repo)
    await repository.load_all()
    rows = {row.model: row for row in summary_rows(repository.entries())}
    assert set(rows) == {"corrupt", "from_triton", "no_config", "tiny_cnn"}
    assert all(len(row.cells()) == len(COLUMNS) for row in rows.values())
    model, version, state, backend, device, precision, seconds, warmup, detail = rows["tiny_cnn"].cells()
    assert (model, version, state, backend, device, detail) == ("tiny_cnn", "1", "READY", "onnxruntime", "cpu", "")
    assert precision == "fp32"
    assert float(seconds) >= 0 and warmup == ""  # its config lists no warmup
    assert rows["no_config"].cells()[1:3] == ("-", "UNAVAILABLE")
    assert rows["no_config"].detail.startswith("no config.yaml")
    assert rows["corrupt"].detail.startswith("[ONNXRuntimeError]")
    # The table cell keeps the cause; what else failed or was skipped stays in the log line.
    cell = rows["corrupt"].cells()[-1]
    assert cell.startswith("[ONNXRuntimeError]") and "skipped:" not in cell and "skipped:" in rows["corrupt"].detail


def test_a_version_ready_after_fallback_says_what_failed_first():
    failed = TrailEntry(
        "onnxruntime[CUDA]@nvidia:gpu:0",
        "onnxruntime",
        "nvidia:gpu:0",
        ("CUDAExecutionProvider",),
        Outcome.FAILED,
        "onnxruntime could not start CUDAExecutionProvider (libcublasLt.so.13: cannot open shared object file)",
    )
    chosen = TrailEntry("onnxruntime[CPU]@cpu", "onnxruntime", "cpu", ("CPUExecutionProvider",), Outcome.CHOSEN)
    trail = DecisionTrail((failed, chosen))
    loaded = SimpleNamespace(backend_name="onnxruntime", device="cpu", load_seconds=0.25, trail=trail, precision="fp32")
    entry = ModelEntry("m", path=Path("m"), versions={1: ModelVersion("m", 1, ModelState.READY, loaded=loaded)})
    assert model_line(entry) == (
        "model m: version 1 READY on onnxruntime (cpu), loaded in 0.25s: fell back after: "
        "onnxruntime[CUDA]@nvidia:gpu:0: onnxruntime could not start CUDAExecutionProvider "
        "(libcublasLt.so.13: cannot open shared object file)"
    )
