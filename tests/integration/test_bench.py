"""`switchyard bench` against a real server: bounded, counts by status code, writes JSON/CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from service.cli.bench import BenchOptions, _serve_rows, render, write_outputs
from service.cli.bench_inproc import inprocess_throughput
from service.cli.bench_load import run_load


async def test_bench_rows_json_and_csv(running, model_repo, tmp_path):
    options = BenchOptions(
        target=running.address,
        model="tiny_cnn",
        concurrency=[1, 4],
        requests=40,
        seconds=None,
        warmup=5,
        json_path=tmp_path / "r.json",
        csv_path=tmp_path / "r.csv",
    )
    console = Console(file=io.StringIO(), width=200)
    rows = await _serve_rows(options, console)
    assert [(r["concurrency"], r["requests"], r["errors"]) for r in rows] == [(1, 40, 0), (4, 40, 0)]
    assert all(r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["infer_per_s"] > 0 for r in rows)
    rows.append(inprocess_throughput(model_repo / "tiny_cnn" / "1" / "model.onnx", options.inputs(), seconds=0.2))
    assert rows[-1]["requests"] > 0 and rows[-1]["mode"] == "in-process onnxruntime"
    write_outputs(rows, options)
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["requests"] == 40
    with (tmp_path / "r.csv").open() as handle:
        assert [row["concurrency"] for row in csv.DictReader(handle)] == ["1", "4", "1"]
    console.print(render(rows, options))


@pytest.mark.parametrize("mode", ["unary", "stream"])
async def test_errors_are_counted_by_status_code(running, mode):
    import numpy as np

    wrong = {"input": np.zeros((1, 3, 32, 32), np.float32)}  # tiny_cnn wants 64x64: INVALID_ARGUMENT
    result = await run_load(
        running.address, "tiny_cnn", wrong, concurrency=2, mode=mode, requests=6, seconds=None, timeout=10
    )
    assert result.ok == 0 and dict(result.errors) == {"INVALID_ARGUMENT": 6}
    missing = await run_load(
        running.address, "no_such_model", wrong, concurrency=1, mode="unary", requests=3, seconds=None, timeout=10
    )
    assert dict(missing.errors) == {"NOT_FOUND": 3}
