"""`switchyard quantize MODEL_DIR --precision int8`: build and gate a model's INT8 artifact ahead of serving.

It builds exactly what the server would at load time (same calibration/ folder, same
precision_gate, same cache key), so a server started with the same --cache-dir reuses it
instead of quantizing on the load path. Exit status 1 when the gate rejects the model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from service.cli.errors import CliError


def quantize(
    model_dir: Annotated[Path, typer.Argument(help="the model's folder (config.yaml, calibration/, version folders)")],
    precision: Annotated[Literal["int8"], typer.Option(help="the precision to build")] = "int8",
    version: Annotated[int | None, typer.Option(help="the version folder (default: the newest)")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="the server's --cache-dir")] = None,
) -> None:
    """Quantize a model with its calibration data, gate it against FP32, and cache the result."""
    from service.repository.config import load_model_config
    from service.repository.loader import ModelLoader
    from service.repository.precision import build_int8, precision_cache_dir

    config = load_model_config(model_dir / "config.yaml", shown=f"{model_dir.name}/config.yaml")
    versions = sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())
    chosen = version if version is not None else (versions[-1] if versions else None)
    if chosen is None or chosen not in versions:
        raise CliError(f"{model_dir.name}: no version folder {chosen if chosen is not None else '(none found)'}")
    step, artifact_dir = build_int8(
        config,
        model_dir / str(chosen),
        precision_cache_dir(cache_dir),
        ModelLoader.calibration_preprocess(config),
        # Progress on stderr: stdout carries only the result lines.
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    print(f"{model_dir.name} version {chosen}: {step.line()}")
    if artifact_dir is None:
        raise CliError(f"{model_dir.name}: {precision} not built: {step.reason}")
    print(f"cached: {artifact_dir}")
