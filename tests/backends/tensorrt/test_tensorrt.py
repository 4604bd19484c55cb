"""The TensorRT path's pure parts, which run without TensorRT: profiles, cache key, dtypes, loading."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.base import Device
from backends.options import ShapeRange, TensorRTOptions, default_options
from backends.registry import BACKENDS, create_backend, is_installed
from backends.tensorrt.cache import EngineCache, engine_cache_key, file_sha256
from backends.tensorrt.dtypes import datatype_of_trt, numpy_of_trt, trt_type_name
from backends.tensorrt.profiles import Profile, derive_profiles
from protos.errors import BackendLoadError, BackendNotInstalledError

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_batch_dim_is_derived_from_max_batch_size():
    profiles = derive_profiles([("x", (-1, 3, 224, 224))], TensorRTOptions(max_batch_size=16, opt_batch_size=4))
    assert profiles["x"] == Profile((1, 3, 224, 224), (4, 3, 224, 224), (16, 3, 224, 224))


def test_other_dynamic_dims_need_a_range_or_a_profile():
    inputs = [("x", (-1, 3, -1, -1))]
    with pytest.raises(BackendLoadError, match="input 'x' dim 2 .* is dynamic"):
        derive_profiles(inputs, TensorRTOptions())
    derived = derive_profiles(inputs, TensorRTOptions(max_batch_size=2, dim_range=(32, 640, 1280)))
    assert derived["x"] == Profile((1, 3, 32, 32), (2, 3, 640, 640), (2, 3, 1280, 1280))


def test_configured_profiles_are_checked():
    good = ShapeRange(min=(1, 3, 32, 32), opt=(1, 3, 480, 640), max=(4, 3, 960, 1280))
    assert derive_profiles([("x", (-1, 3, -1, -1))], TensorRTOptions(profiles={"x": good}))["x"].opt == (1, 3, 480, 640)
    with pytest.raises(BackendLoadError, match="fixes it at 3"):
        derive_profiles(
            [("x", (-1, 3, -1, -1))],
            TensorRTOptions(profiles={"x": ShapeRange(min=(1, 1, 32, 32), opt=(1, 1, 32, 32), max=(1, 1, 32, 32))}),
        )
    with pytest.raises(BackendLoadError, match="min <= opt <= max"):
        derive_profiles(
            [("x", (-1, 4))], TensorRTOptions(profiles={"x": ShapeRange(min=(4, 4), opt=(2, 4), max=(8, 4))})
        )
    with pytest.raises(BackendLoadError, match="rank 2"):
        derive_profiles([("x", (-1, 4))], TensorRTOptions(profiles={"x": ShapeRange(min=(1,), opt=(1,), max=(1,))}))
    with pytest.raises(BackendLoadError, match="unknown inputs"):
        derive_profiles([("x", (-1, 4))], TensorRTOptions(profiles={"y": good}))


def test_static_inputs_get_a_fixed_profile():
    assert derive_profiles([("ids", (1, 128))], TensorRTOptions())["ids"] == Profile((1, 128), (1, 128), (1, 128))


KEY_ARGS = dict(
    model_sha256="ab" * 32,
    tensorrt_version="10.8.0.43",
    gpu_name="NVIDIA L4",
    compute_capability="8.9",
    precision="fp16",
    profiles={"x": Profile((1, 4), (8, 4), (8, 4))},
)


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "cd" * 32},
        {"tensorrt_version": "10.9.0.34"},
        {"gpu_name": "NVIDIA A100"},
        {"compute_capability": "8.0"},
        {"precision": "fp32"},
        {"profiles": {"x": Profile((1, 4), (4, 4), (8, 4))}},
        {"extra": {"workspace": "1073741824"}},
    ],
)
def test_every_key_component_changes_the_cache_key(change):
    assert engine_cache_key(**(KEY_ARGS | change)) != engine_cache_key(**KEY_ARGS)


def test_cache_key_is_stable_and_order_independent():
    a = engine_cache_key(**KEY_ARGS | {"profiles": {"a": Profile((1,), (1,), (2,)), "b": Profile((2,), (2,), (2,))}})
    b = engine_cache_key(**KEY_ARGS | {"profiles": {"b": Profile((2,), (2,), (2,)), "a": Profile((1,), (1,), (2,))}})
    assert a == b and len(a) == 32 and int(a, 16) >= 0


def test_engine_cache_stores_atomically_and_reads_back(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx bytes")
    assert file_sha256(model) == hashlib.sha256(b"onnx bytes").hexdigest()
    cache = EngineCache(tmp_path / "engines")
    assert cache.load("k1") is None
    path = cache.store("k1", b"\x00engine", {"gpu": "NVIDIA L4"})
    assert path.read_bytes() == b"\x00engine" and cache.load("k1") == b"\x00engine"
    assert (tmp_path / "engines" / "k1.json").read_text().count("NVIDIA L4") == 1
    assert sorted(p.name for p in (tmp_path / "engines").iterdir()) == ["k1.engine", "k1.json"]


@pytest.mark.parametrize(
    "trt_name,datatype,dtype",
    [
        ("FLOAT", "FP32", np.float32),
        ("DataType.HALF", "FP16", np.float16),
        ("BF16", "BF16", np.uint16),
        ("INT8", "INT8", np.int8),
        ("INT32", "INT32", np.int32),
        ("INT64", "INT64", np.int64),
        ("BOOL", "BOOL", np.bool_),
        ("UINT8", "UINT8", np.uint8),
    ],
)
def test_dtype_map(trt_name, datatype, dtype):
    assert datatype_of_trt(trt_name) == datatype and numpy_of_trt(trt_name) == np.dtype(dtype)


def test_unsupported_trt_types_are_refused():
    class FakeType:  # how trt.DataType members look: an enum with .name
        name = "FP8"

    assert trt_type_name(FakeType()) == "FP8"
    with pytest.raises(BackendLoadError, match="FP8 has no protocol datatype"):
        datatype_of_trt(FakeType())


def test_registry_and_options_know_tensorrt():
    entry = BACKENDS["tensorrt"]
    assert entry.formats == ("model.plan", "model.engine", "model.onnx")
    assert isinstance(default_options("tensorrt"), TensorRTOptions)
    assert is_installed("tensorrt") == HAS_TENSORRT


def test_module_imports_without_tensorrt_and_never_imports_it():
    code = (
        "import sys, backends.tensorrt.backend, backends.selection, backends.loading, backends.probe;"
        "print('tensorrt' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here")
def test_without_tensorrt_the_backend_reports_not_installed(tmp_path):
    with pytest.raises(BackendNotInstalledError, match="tensorrt"):
        create_backend("tensorrt")
    from backends.tensorrt.backend import TensorRTBackend

    with pytest.raises(BackendNotInstalledError):
        TensorRTBackend().load(tmp_path / "model.plan", TensorRTOptions(), Device("gpu", 0, "nvidia"))
