"""How an engine build is configured for its precision, INT8 calibration included.

    calibration = plan_calibration(artifact, options, input_names, model_sha256)
    apply_precision(trt, builder, config, options.precision, calibrator, calibration)

Pure decisions over whatever `trt`, builder and config objects are passed in, so they are
tested here with plain stand-ins; backend.py passes the real TensorRT ones. INT8 takes its
activation ranges from, in order: the calibration cache (replayed, no calibration run), else
the calibration samples (an entropy calibration that writes the cache for the next build).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.options import TensorRTOptions
from backends.precision.calibration import (
    CALIBRATION_FOLDER,
    CalibrationError,
    Sample,
    digest,
    load_calibration,
    sample_folder,
)
from backends.tensorrt.calibrator import CalibrationCacheFile, CalibrationFeed
from protos.errors import BackendLoadError

# One sample per calibration batch: samples of a model's calibration/ folder share a shape
# but need not fill a larger batch.
CALIBRATION_BATCH = 1
PRECISION_FLAGS = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8"}


@dataclass(frozen=True)
class Int8Calibration:
    cache: CalibrationCacheFile
    feed: CalibrationFeed | None  # None: the cache holds the table, nothing is run
    identity: str  # what the engine cache key records: the table's or the samples' digest

    @property
    def source(self) -> str:
        return "calibration cache" if self.feed is None else f"{len(self.feed)} calibration batches"


def plan_calibration(
    artifact: Path, options: TensorRTOptions, input_names: Sequence[str], model_sha256: str
) -> Int8Calibration:
    """Where INT8's ranges come from: an existing table, else the samples, calibrated into a new table.

    The identity is the samples' digest whenever samples exist, so the engine built by
    calibrating and the one rebuilt later from the written table share one engine-cache key.
    """
    samples, problem = _samples(artifact, options, input_names)
    explicit = Path(options.int8_calibration_cache) if options.int8_calibration_cache else None
    if explicit is not None and (table := CalibrationCacheFile(explicit).read()):
        identity = f"samples:{digest(samples)}" if samples else f"table:{_sha(table)}"
        return Int8Calibration(CalibrationCacheFile(explicit), None, identity)
    if not samples:
        raise BackendLoadError(f"precision int8 needs an int8_calibration_cache file or calibration samples: {problem}")
    samples_digest = digest(samples)
    path = explicit
    if path is None and options.engine_cache_dir:
        # Keyed by model and samples, so new calibration data never reuses an old table.
        path = Path(options.engine_cache_dir) / f"{model_sha256[:24]}-{samples_digest[:16]}.calibration"
    cache = CalibrationCacheFile(path)
    feed = None if cache.read() else CalibrationFeed(samples, CALIBRATION_BATCH)
    return Int8Calibration(cache, feed, f"samples:{samples_digest}")


def _samples(artifact: Path, options: TensorRTOptions, input_names: Sequence[str]) -> tuple[list[Sample], str]:
    """(samples, "") or ([], why there are none)."""
    if options.int8_calibration_data:
        folder = Path(options.int8_calibration_data)
    else:
        folder = sample_folder(artifact.parent, CALIBRATION_FOLDER)
    try:
        samples = load_calibration(folder, input_names)
    except CalibrationError as exc:
        return [], str(exc)
    shapes = {tuple((n, s[n].shape) for n in input_names) for s in samples}
    if len(shapes) > 1:
        raise BackendLoadError(f"tensorrt calibrates on samples of one shape; found {sorted(shapes)}")
    return samples, ""


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32]


def apply_precision(
    trt: Any,
    builder: Any,
    config: Any,
    precision: str,
    calibrator: Any = None,
    calibration: Int8Calibration | None = None,
) -> list[str]:
    """Set the builder flags (and for INT8 the calibrator and its profile); returns the flags set.

    INT8 also sets FP16 where the builder supports it, so layers TensorRT keeps out of INT8
    fall back to FP16 rather than FP32, as trtexec --int8 --fp16 does.
    """
    wanted = PRECISION_FLAGS.get(precision)
    if wanted is None:
        return []
    flags = [wanted]
    if precision == "int8" and getattr(builder, "platform_has_fast_fp16", False):
        flags.append("FP16")
    for flag in flags:
        if not hasattr(trt.BuilderFlag, flag):
            raise BackendLoadError(f"tensorrt {trt.__version__} has no {flag} builder flag")
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if precision == "int8":
        if calibrator is None or calibration is None:
            raise BackendLoadError("precision int8 needs a calibrator")
        config.int8_calibrator = calibrator
        if calibration.feed is not None:
            # The calibration batches' own shapes, whatever the serving profile's opt shape is.
            profile = builder.create_optimization_profile()
            for name, shape in calibration.feed.shapes().items():
                profile.set_shape(name, shape, shape, shape)
            config.set_calibration_profile(profile)
    return flags
