"""Reference profiles: per tensor, per channel or feature, exact moments plus a KLL sketch.

A profile is what "normal" traffic looks like for one model version. It is built either
offline (`switchyard profile`, written to <model>/<version>/profile.json) or from the first
requests a server sees (config `drift.baseline_requests`). Both go through TensorProfile.add,
so the two kinds of reference are the same thing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasketches import kll_doubles_sketch

PROFILE_FILE = "profile.json"
FORMAT_VERSION = 1
# KLL's accuracy parameter: k=200 gives a normalized rank error of about 1.3%.
SKETCH_K = 200


def feature_matrix(array: np.ndarray, max_features: int) -> np.ndarray | None:
    """A tensor as (values, features): NCHW-like tensors by channel (axis 1), 2-D ones by column.

    None for tensors that carry no numbers (BYTES) or no values.
    """
    if array.dtype.kind not in "biuf" or array.size == 0:
        return None
    if array.ndim >= 3:
        channels = min(array.shape[1], max_features)
        matrix = np.moveaxis(array[:, :channels], 1, -1).reshape(-1, channels)
    elif array.ndim == 2:
        matrix = array[:, :max_features]
    else:
        matrix = array.reshape(-1, 1)
    return matrix.astype(np.float64, copy=False)


@dataclass
class FeatureProfile:
    """Moments merged exactly (Chan et al.) over finite values; NaN/Inf counted, not mixed in."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    nan: int = 0
    inf: int = 0
    sketch: kll_doubles_sketch = field(default_factory=lambda: kll_doubles_sketch(SKETCH_K))

    @property
    def variance(self) -> float:
        return self.m2 / self.count if self.count else 0.0

    @property
    def seen(self) -> int:
        return self.count + self.nan + self.inf

    def add(self, values: np.ndarray) -> None:
        nan = np.isnan(values)
        inf = np.isinf(values)
        bad_nan, bad_inf = int(nan.sum()), int(inf.sum())
        self.nan += bad_nan
        self.inf += bad_inf
        finite = values[~(nan | inf)] if bad_nan or bad_inf else values
        n = finite.size
        if not n:
            return
        mean = float(finite.mean())
        m2 = float(((finite - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.min = min(self.min, float(finite.min()))
        self.max = max(self.max, float(finite.max()))
        self.sketch.update(finite)

    def to_json(self) -> dict:
        seen = self.seen or 1
        return {
            "count": self.count,
            "mean": self.mean,
            "variance": self.variance,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "nan_rate": self.nan / seen,
            "inf_rate": self.inf / seen,
            "sketch": base64.b64encode(self.sketch.serialize()).decode("ascii"),
        }

    @classmethod
    def from_json(cls, raw: Mapping) -> FeatureProfile:
        count = int(raw["count"])
        seen = count / max(1.0 - raw["nan_rate"] - raw["inf_rate"], 1e-12) if count else 0
        return cls(
            count=count,
            mean=float(raw["mean"]),
            m2=float(raw["variance"]) * count,
            min=float(raw["min"]) if raw["min"] is not None else float("inf"),
            max=float(raw["max"]) if raw["max"] is not None else float("-inf"),
            nan=round(seen * raw["nan_rate"]),
            inf=round(seen * raw["inf_rate"]),
            sketch=kll_doubles_sketch.deserialize(base64.b64decode(raw["sketch"])),
        )


@dataclass
class TensorProfile:
    features: list[FeatureProfile] = field(default_factory=list)

    def add(self, array: np.ndarray, max_features: int) -> None:
        matrix = feature_matrix(array, max_features)
        if matrix is None:
            return
        while len(self.features) < matrix.shape[1]:
            self.features.append(FeatureProfile())
        for index in range(matrix.shape[1]):
            self.features[index].add(matrix[:, index])


@dataclass
class Profile:
    inputs: dict[str, TensorProfile] = field(default_factory=dict)
    outputs: dict[str, TensorProfile] = field(default_factory=dict)
    # Statistics of decoded pictures (service/drift/frames.py), for models fed images or video.
    frames: dict[str, TensorProfile] = field(default_factory=dict)

    def add(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], max_features: int) -> None:
        for side, tensors in ((self.inputs, inputs), (self.outputs, outputs)):
            for name, array in tensors.items():
                side.setdefault(name, TensorProfile()).add(array, max_features)

    def add_frame(self, statistics: Mapping[str, np.ndarray]) -> None:
        for name, values in statistics.items():
            self.frames.setdefault(name, TensorProfile()).add(values, 1)

    def tensors(self) -> dict[tuple[str, str], TensorProfile]:
        """(side, name) -> profile, side being "input", "output" or "frame"."""
        found = {("input", name): t for name, t in self.inputs.items()}
        found.update({("output", name): t for name, t in self.outputs.items()})
        found.update({("frame", name): t for name, t in self.frames.items()})
        return found

    def to_json(self) -> dict:
        def side(tensors: dict[str, TensorProfile]) -> dict:
            return {name: {"features": [f.to_json() for f in t.features]} for name, t in tensors.items()}

        raw = {"format": FORMAT_VERSION, "inputs": side(self.inputs), "outputs": side(self.outputs)}
        if self.frames:  # absent for tensor-only models, so their profiles read as before
            raw["frames"] = side(self.frames)
        return raw

    @classmethod
    def from_json(cls, raw: Mapping) -> Profile:
        if raw.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown profile format {raw.get('format')!r}, expected {FORMAT_VERSION}")

        def side(tensors: Mapping) -> dict[str, TensorProfile]:
            return {
                name: TensorProfile([FeatureProfile.from_json(f) for f in t["features"]]) for name, t in tensors.items()
            }

        return cls(side(raw.get("inputs", {})), side(raw.get("outputs", {})), side(raw.get("frames", {})))


def write_profile(profile: Profile, path: Path) -> None:
    path.write_text(json.dumps(profile.to_json(), indent=1))


def read_profile(path: Path) -> Profile:
    return Profile.from_json(json.loads(path.read_text()))
