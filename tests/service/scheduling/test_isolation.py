"""IsolatedBackend over real ONNX Runtime child processes: tensors of every datatype cross
through shared memory, segments grow within their limit, errors keep their class, and a
child that dies (SIGFPE from INT_MIN / -1, or killed) fails only its own request and is
restarted with backoff."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from backends.base import Device
from backends.options import OnnxRuntimeOptions
from protos.datatypes import numpy_dtype
from protos.errors import BackendLoadError, ErrorCode, InvalidInputError, ModelUnavailableError, SwitchyardError
from service.repository.config import ConfigError, load_model_config
from service.repository.loader import ModelLoader
from service.scheduling.backend_process import describe_exit
from service.scheduling.isolation import IsolatedBackend, IsolationPolicy
from tests.fixtures import models

DTYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}
FAST = IsolationPolicy(restart_backoff_s=0.01, restart_backoff_max_s=0.05)


class Health:
    """Records watcher calls; wait_for blocks until the backend reports the wanted readiness."""

    def __init__(self) -> None:
        self.events: list[tuple[bool, str]] = []
        self._changed = threading.Condition()

    def __call__(self, ready: bool, reason: str) -> None:
        with self._changed:
            self.events.append((ready, reason))
            self._changed.notify_all()

    def wait_for(self, ready: bool, count: int = 1) -> list[tuple[bool, str]]:
        with self._changed:
            assert self._changed.wait_for(lambda: sum(r is ready for r, _ in self.events) >= count, timeout=60)
            return list(self.events)


def loaded(tmp_path: Path, model: onnx.ModelProto, policy: IsolationPolicy = FAST) -> IsolatedBackend:
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    backend = IsolatedBackend("onnxruntime", "m", "1", policy)
    backend.load(path, OnnxRuntimeOptions(), Device("cpu"))
    return backend


@pytest.fixture(scope="module")
def int_div_traps(tmp_path_factory) -> None:
    """The premise, checked on a plain onnxruntime session in its own process: INT_MIN / -1 kills it."""
    path = tmp_path_factory.mktemp("plain") / "div.onnx"
    onnx.save(models.int_div_model(), path)
    assert models.plain_onnxruntime_exit_code(str(path), models.BENIGN_DIVISION) == 0
    if models.plain_onnxruntime_exit_code(str(path), models.INT_MIN_BY_MINUS_ONE) != -signal.SIGFPE:
        pytest.skip("INT_MIN / -1 does not trap on this CPU, so ONNX Runtime cannot be crashed this way")


@pytest.fixture
def div(tmp_path):
    backend = loaded(tmp_path, models.int_div_model())
    yield backend
    backend.unload()


def test_every_datatype_crosses_to_the_child_and_back(tmp_path):
    backend = loaded(tmp_path, models.identities_model(DTYPES))
    try:
        inputs = {}
        for name in DTYPES:
            if name == "BYTES":
                inputs[f"x_{name}"] = np.array([["a", "héllo"], ["", "z" * 50]], dtype=object)
            elif name == "BOOL":
                inputs[f"x_{name}"] = np.array([[True, False], [False, True]])
            else:
                inputs[f"x_{name}"] = np.array([[1, 2], [3, 100]], dtype=numpy_dtype(name))
        out = backend.infer(inputs)
        for name in DTYPES:
            got, want = out[f"y_{name}"], inputs[f"x_{name}"]
            assert got.shape == want.shape and got.tolist() == want.tolist(), name
            assert got.dtype == want.dtype or name == "BYTES", name
        empty = backend.infer({name: array[:0] for name, array in inputs.items()})
        assert all(empty[f"y_{name}"].shape == (0, 2) for name in DTYPES)
    finally:
        backend.unload()


def test_requests_larger_than_the_segment_grow_it_up_to_the_limit(tmp_path):
    policy = IsolationPolicy(min_segment_bytes=4096, max_segment_bytes=64 << 10)
    backend = loaded(tmp_path, models.tile_model(1000), policy)
    try:
        small = np.arange(4, dtype=np.float32)  # 16 bytes in, 16 kB out: the outputs make it grow
        assert backend.infer({"x": small})["y"].tolist() == np.tile(small, 1000).tolist()
        with pytest.raises(SwitchyardError) as too_big:  # 64 kB in, 64 MB out
            backend.infer({"x": np.ones(16 << 10, np.float32)})
        assert too_big.value.code is ErrorCode.RESOURCE_EXHAUSTED
        assert "shared memory" in too_big.value.message and "process.shared_memory_mb" in too_big.value.message
        with pytest.raises(SwitchyardError) as inputs_too_big:
            backend.infer({"x": np.ones(20 << 10, np.float32)})
        assert inputs_too_big.value.code is ErrorCode.RESOURCE_EXHAUSTED
        # Refusing a request leaves the process serving, with nothing restarted.
        assert backend.infer({"x": small})["y"].shape == (4000,)
        assert backend.restarts == 0
    finally:
        backend.unload()


def test_a_large_input_grows_the_segment(tmp_path):
    backend = loaded(tmp_path, models.identity_model(TensorProto.FLOAT), IsolationPolicy(min_segment_bytes=4096))
    try:
        x = np.random.default_rng(0).random((512, 512), dtype=np.float32)  # 1 MiB in and out
        np.testing.assert_array_equal(backend.infer({"x": x})["y"], x)
    finally:
        backend.unload()


def test_runtime_errors_keep_their_class_and_code(tmp_path):
    backend = loaded(tmp_path, models.add_model())
    try:
        with pytest.raises(InvalidInputError) as raised:
            backend.infer({"a": np.ones((1, 4), np.float32), "b": np.ones((1, 3), np.float32)})
        assert raised.value.code is ErrorCode.INVALID_ARGUMENT and "onnxruntime" in raised.value.message
        ok = backend.infer({"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
        assert ok["sum"].tolist() == [[2.0] * 4]
    finally:
        backend.unload()


def test_a_model_that_does_not_load_reports_the_runtimes_words(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    backend = IsolatedBackend("onnxruntime", "m", "1", FAST)
    with pytest.raises(BackendLoadError) as raised:
        backend.load(path, OnnxRuntimeOptions(), Device("cpu"))
    assert "could not load" in raised.value.message
    assert raised.value.__cause__ is not None and str(raised.value.__cause__)
    assert backend.pids == []


def test_sigfpe_fails_the_request_naming_the_signal_then_the_model_comes_back(int_div_traps, div):
    health = Health()
    div.watch(health)
    assert div.infer(models.BENIGN_DIVISION)["q"].tolist() == [3, -3]
    first = div.pids
    with pytest.raises(ModelUnavailableError) as died:
        div.infer(models.INT_MIN_BY_MINUS_ONE)
    assert died.value.message == "model 'm' backend process died (SIGFPE); restarting"
    events = health.wait_for(True)
    assert events[0] == (False, "backend process died (SIGFPE); restarting")
    assert events[-1] == (True, "")
    assert div.restarts == 1 and div.pids != first
    assert div.infer(models.BENIGN_DIVISION)["q"].tolist() == [3, -3]


def test_a_child_killed_while_idle_is_noticed_and_restarted(div):
    health = Health()
    div.watch(health)
    os.kill(div.pids[0], signal.SIGKILL)
    events = health.wait_for(True)
    assert events[0] == (False, "backend process died (SIGKILL); restarting")
    assert div.restarts == 1
    assert div.infer(models.BENIGN_DIVISION)["q"].tolist() == [3, -3]


def test_while_restarting_requests_fail_fast_with_the_reason(tmp_path):
    slow = IsolationPolicy(restart_backoff_s=30, restart_backoff_max_s=30)
    backend = loaded(tmp_path, models.int_div_model(), slow)
    health = Health()
    backend.watch(health)
    try:
        os.kill(backend.pids[0], signal.SIGTERM)
        health.wait_for(False)
        with pytest.raises(ModelUnavailableError, match=r"^model 'm' backend process died \(SIGTERM\); restarting$"):
            backend.infer(models.BENIGN_DIVISION)
    finally:
        backend.unload()  # interrupts the 30 s backoff
    assert backend.pids == []


def test_unload_ends_every_process(tmp_path):
    policy = IsolationPolicy(processes=2)
    backend = loaded(tmp_path, models.add_model(), policy)
    pids = backend.pids
    assert len(pids) == 2
    backend.unload()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ModelUnavailableError, match="unloading"):
        backend.infer({"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})


def test_backoff_doubles_per_death_up_to_its_bound():
    policy = IsolationPolicy(restart_backoff_s=0.1, restart_backoff_max_s=0.5)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 10)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_exit_descriptions_name_the_signal():
    assert describe_exit(-signal.SIGFPE) == "SIGFPE"
    assert describe_exit(-signal.SIGSEGV) == "SIGSEGV"
    assert describe_exit(3) == "exit code 3"


def test_config_yaml_sets_the_isolation_and_its_knobs(tmp_path):
    path = tmp_path / "m" / "config.yaml"
    path.parent.mkdir()
    path.write_text(
        "isolation: process\ninstances: 2\nmax_batch_size: 4\n"
        "process: {restart_backoff_ms: 50, restart_backoff_max_ms: 2000, shared_memory_mb: 16}\n"
    )
    config = load_model_config(path)
    backend = ModelLoader.backend_factory("m", "1", config)("onnxruntime")
    assert isinstance(backend, IsolatedBackend) and backend.name == "onnxruntime"
    assert backend.policy == IsolationPolicy(
        processes=2,
        restart_backoff_s=0.05,
        restart_backoff_max_s=2.0,
        min_segment_bytes=1 << 20,
        max_segment_bytes=16 << 20,
        max_batch_size=4,
    )
    inline = load_model_config(_written(tmp_path, "backend: onnxruntime\n"))
    assert inline.isolation == "inline"
    assert not isinstance(ModelLoader.backend_factory("m", "1", inline)("onnxruntime"), IsolatedBackend)
    with pytest.raises(ConfigError, match=r"field 'isolation'"):
        load_model_config(_written(tmp_path, "isolation: thread\n"))
    with pytest.raises(ConfigError, match=r"field 'process.restart_backoff'"):
        load_model_config(_written(tmp_path, "process: {restart_backoff: 5}\n"))


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "n" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path
