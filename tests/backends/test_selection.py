"""Selection policy: every fixture machine x artifact format, every override, every skip reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from backends.options import OnnxRuntimeOptions, OpenVinoOptions, TensorRTOptions
from backends.probe import HardwareReport, RuntimeInfo, probe
from backends.selection import Candidate, Preferences, SkipReason, artifact_files, select_candidates

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"

ORT_CPU = RuntimeInfo("onnxruntime", True, "1.22.0", "onnxruntime", ("CPUExecutionProvider",))
ORT_GPU = RuntimeInfo(
    "onnxruntime",
    True,
    "1.22.0",
    "onnxruntime-gpu",
    ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
)
ORT_MIGRAPHX = RuntimeInfo(
    "onnxruntime", True, "1.22.0", "onnxruntime-migraphx", ("MIGraphXExecutionProvider", "CPUExecutionProvider")
)
OV_CPU = RuntimeInfo("openvino", True, "2025.1.0", devices=("CPU",))
OV_INTEL = RuntimeInfo("openvino", True, "2025.1.0", devices=("CPU", "GPU", "NPU"))
TRT = (RuntimeInfo("tensorrt", True, "10.8.0"), RuntimeInfo("cuda-python", True, "12.8.0"))

# The runtimes each kind of machine would have installed with its extra.
MACHINES = {
    "cpu-container-quota": (ORT_CPU, OV_CPU),
    "nvidia-1x": (*TRT, ORT_GPU, OV_CPU),
    "nvidia-2x": (*TRT, ORT_GPU, OV_CPU),
    "amd-instinct": (ORT_MIGRAPHX, OV_CPU),
    "intel-igpu-npu": (ORT_CPU, OV_INTEL),
    "mixed-nvidia-intel": (ORT_GPU, OV_INTEL),  # no tensorrt wheel on this one
}


def machine(name: str, runtimes=None) -> HardwareReport:
    return probe(SYSROOTS / name, runtimes=MACHINES[name] if runtimes is None else runtimes)


def first(candidates: list[Candidate]) -> str | None:
    viable = [c for c in candidates if c.viable]
    return viable[0].label if viable else None


def by_label(candidates: list[Candidate], label: str) -> Candidate:
    return next(c for c in candidates if c.label == label)


@pytest.mark.parametrize(
    "name,onnx,ir,plan",
    [
        ("cpu-container-quota", "onnxruntime[CPU]@cpu", "openvino@cpu", None),
        ("nvidia-1x", "tensorrt@nvidia:gpu:0", "openvino@cpu", "tensorrt@nvidia:gpu:0"),
        ("nvidia-2x", "tensorrt@nvidia:gpu:0", "openvino@cpu", "tensorrt@nvidia:gpu:0"),
        ("amd-instinct", "onnxruntime[MIGraphX]@amd:gpu:0", "openvino@cpu", None),
        ("intel-igpu-npu", "openvino@intel:gpu", "openvino@intel:gpu", None),
        ("mixed-nvidia-intel", "onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0", "openvino@intel:gpu", None),
    ],
)
def test_default_choice_per_machine_and_format(name, onnx, ir, plan):
    report = machine(name)
    assert first(select_candidates(report, "model.onnx")) == onnx
    assert first(select_candidates(report, "model.xml")) == ir
    assert first(select_candidates(report, "model.plan")) == plan


def test_nvidia_order_is_tensorrt_then_trt_ep_then_cuda_ep_then_cpu():
    viable = [c.label for c in select_candidates(machine("nvidia-1x"), "onnx") if c.viable]
    assert viable == [
        "tensorrt@nvidia:gpu:0",
        "onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0",
        "onnxruntime[CUDA]@nvidia:gpu:0",
        "onnxruntime[CPU]@cpu",
        "openvino@cpu",
    ]


def test_cpu_machine_skips_every_accelerator_with_a_reason():
    candidates = select_candidates(machine("cpu-container-quota"), "onnx")
    skipped = {c.label: (c.skip, c.reason) for c in candidates if not c.viable}
    assert skipped["tensorrt@nvidia:gpu"] == (SkipReason.NO_DEVICE, "no NVIDIA GPU found")
    assert skipped["onnxruntime[MIGraphX]@amd:gpu"] == (SkipReason.NO_DEVICE, "no AMD GPU found")
    assert skipped["openvino@intel:npu"] == (SkipReason.NO_DEVICE, "no Intel NPU found")
    assert len(candidates) == 9 and len(skipped) == 7


def test_plan_on_a_cpu_machine_has_no_viable_candidate_and_says_why():
    candidates = select_candidates(machine("cpu-container-quota"), "model.plan")
    assert not any(c.viable for c in candidates)
    cpu = by_label(candidates, "onnxruntime[CPU]@cpu")
    assert cpu.skip is SkipReason.FORMAT_UNSUPPORTED and "found model.plan" in cpu.reason


def test_missing_tensorrt_runtime_and_missing_provider_are_reasons():
    report = machine("nvidia-1x", runtimes=(ORT_CPU, OV_CPU))
    candidates = select_candidates(report, "onnx")
    trt = by_label(candidates, "tensorrt@nvidia:gpu:0")
    assert trt.skip is SkipReason.RUNTIME_MISSING and "tensorrt is not installed" in trt.reason
    cuda = by_label(candidates, "onnxruntime[CUDA]@nvidia:gpu:0")
    assert cuda.skip is SkipReason.PROVIDER_MISSING
    assert "no CUDAExecutionProvider" in cuda.reason and "nvidia extra" in cuda.reason
    assert first(candidates) == "onnxruntime[CPU]@cpu"


def test_tensorrt_without_cuda_python_is_skipped():
    report = machine("nvidia-1x", runtimes=(RuntimeInfo("tensorrt", True, "10.8.0"), ORT_GPU))
    trt = select_candidates(report, "plan")[0]
    assert trt.skip is SkipReason.RUNTIME_MISSING and "cuda-python" in trt.reason


def test_broken_runtime_import_error_is_carried_into_the_reason():
    broken = RuntimeInfo("tensorrt", False, error="ImportError: libnvinfer.so.10: cannot open")
    report = machine("nvidia-1x", runtimes=(broken, TRT[1], ORT_GPU))
    assert "libnvinfer.so.10" in select_candidates(report, "plan")[0].reason


def test_device_index_override_on_two_gpus():
    report = machine("nvidia-2x")
    assert first(select_candidates(report, "onnx", Preferences(device="gpu:1"))) == "tensorrt@nvidia:gpu:1"
    candidates = select_candidates(report, "onnx", Preferences(device="gpu:2"))
    assert first(candidates) is None
    assert candidates[0].skip is SkipReason.NO_DEVICE and candidates[0].reason == "no NVIDIA GPU 2 (2 found)"


def test_device_cpu_override_keeps_only_cpu_routes():
    candidates = select_candidates(machine("nvidia-1x"), "onnx", Preferences(device="cpu"))
    assert [c.label for c in candidates if c.viable] == ["onnxruntime[CPU]@cpu", "openvino@cpu"]
    assert candidates[0].skip is SkipReason.DEVICE_NOT_REQUESTED


def test_backend_override():
    report = machine("nvidia-1x")
    assert (
        first(select_candidates(report, "onnx", Preferences(backend="onnxruntime")))
        == "onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0"
    )
    candidates = select_candidates(report, "onnx", Preferences(backend="openvino"))
    assert first(candidates) == "openvino@cpu"
    assert candidates[0].skip is SkipReason.BACKEND_NOT_REQUESTED


def test_npu_override_on_intel():
    assert first(select_candidates(machine("intel-igpu-npu"), "xml", Preferences(device="npu"))) == "openvino@intel:npu"


def test_explicit_providers_list_replaces_the_onnxruntime_routes():
    prefs = Preferences(providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    candidates = select_candidates(machine("nvidia-1x"), "onnx", prefs)
    assert [c.label for c in candidates if c.viable] == ["onnxruntime[CUDA]@nvidia:gpu:0"]
    assert candidates[0].options.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert by_label(candidates, "tensorrt@nvidia:gpu:0").skip is SkipReason.PROVIDERS_NOT_REQUESTED


def test_providers_not_offered_by_this_flavour():
    prefs = Preferences(providers=("ROCMExecutionProvider",))
    (candidate, *_) = select_candidates(machine("amd-instinct"), "onnx", prefs)
    assert candidate.skip is SkipReason.PROVIDER_MISSING and "onnxruntime-migraphx" in candidate.reason


def test_precision_fp16_on_nvidia_sets_builder_and_ep_flags():
    prefs = Preferences(precision="fp16", cache_dir="/var/cache/switchyard")
    candidates = select_candidates(machine("nvidia-1x"), "onnx", prefs)
    trt = by_label(candidates, "tensorrt@nvidia:gpu:0")
    assert isinstance(trt.options, TensorRTOptions)
    assert trt.options.precision == "fp16" and trt.options.engine_cache_dir == "/var/cache/switchyard/tensorrt"
    ep = by_label(candidates, "onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0").options
    assert ep.provider_options["TensorrtExecutionProvider"]["trt_fp16_enable"] == "True"
    assert (
        ep.provider_options["TensorrtExecutionProvider"]["trt_engine_cache_path"]
        == "/var/cache/switchyard/ort-tensorrt"
    )
    cuda = by_label(candidates, "onnxruntime[CUDA]@nvidia:gpu:0")
    assert cuda.skip is SkipReason.PRECISION_UNSUPPORTED


def test_bf16_needs_hardware_support():
    # An L4 (8.9) builds bf16 engines; a T4 (7.5) cannot.
    assert (
        first(select_candidates(machine("nvidia-2x"), "plan", Preferences(precision="bf16"))) == "tensorrt@nvidia:gpu:0"
    )
    # The CPU-only container has no avx512_bf16/AMX: OpenVINO CPU bf16 is skipped, and ORT CPU is fp32 only.
    candidates = select_candidates(machine("cpu-container-quota"), "onnx", Preferences(precision="bf16"))
    assert first(candidates) is None
    assert "avx512_bf16" in by_label(candidates, "openvino@cpu").reason
    # The NVIDIA hosts have Sapphire Rapids CPUs with AMX: bf16 on the CPU goes to OpenVINO.
    candidates = select_candidates(machine("nvidia-1x"), "onnx", Preferences(precision="bf16", device="cpu"))
    assert first(candidates) == "openvino@cpu"
    assert by_label(candidates, "openvino@cpu").options.precision_hint == "bf16"


def test_tensorrt_bf16_skipped_on_a_pre_ampere_gpu(tmp_path):
    gpu = tmp_path / "proc/driver/nvidia/gpus/0000:01:00.0"
    gpu.mkdir(parents=True)
    (gpu / "information").write_text("Model: \t Tesla T4\nDevice Minor: \t 0\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/nvidia0").write_text("")
    report = probe(tmp_path, runtimes=MACHINES["nvidia-1x"])
    trt = select_candidates(report, "plan", Preferences(precision="bf16"))[0]
    assert trt.skip is SkipReason.PRECISION_UNSUPPORTED and "7.5" in trt.reason


def test_openvino_gpu_skipped_when_openvino_sees_no_gpu():
    report = machine("intel-igpu-npu", runtimes=(ORT_CPU, OV_CPU))
    candidates = select_candidates(report, "xml")
    gpu = by_label(candidates, "openvino@intel:gpu")
    assert gpu.skip is SkipReason.RUNTIME_MISSING and "openvino sees CPU" in gpu.reason
    assert first(candidates) == "openvino@cpu"


def test_unusable_device_is_skipped(tmp_path):
    (tmp_path / "sys/class/drm/card0/device").mkdir(parents=True)
    (tmp_path / "sys/class/drm/card0/device/vendor").write_text("0x1002\n")
    candidates = select_candidates(probe(tmp_path, runtimes=MACHINES["amd-instinct"]), "onnx")
    assert candidates[3].skip is SkipReason.DEVICE_UNUSABLE and "/dev/kfd" in candidates[3].reason


def test_model_directory_with_plan_and_onnx(tmp_path):
    for name in ("model.onnx", "model.plan", "config.yaml"):
        (tmp_path / name).write_text("")
    assert artifact_files(tmp_path) == {"onnx": ["model.onnx"], "tensorrt_plan": ["model.plan"]}
    candidates = select_candidates(machine("nvidia-1x"), tmp_path)
    assert candidates[0].artifact_name == "model.plan"
    assert by_label(candidates, "onnxruntime[CPU]@cpu").artifact_name == "model.onnx"


def test_base_options_are_kept_and_only_routing_fields_change():
    base = {
        "onnxruntime": OnnxRuntimeOptions(intra_op_threads=2),
        "openvino": OpenVinoOptions(num_threads=3, cache_dir="/models/cache"),
    }
    candidates = select_candidates(
        machine("cpu-container-quota"), "onnx", Preferences(cache_dir="/tmp/c"), base_options=base
    )
    ort = by_label(candidates, "onnxruntime[CPU]@cpu").options
    assert ort.intra_op_threads == 2 and ort.providers == ("CPUExecutionProvider",)
    ov = by_label(candidates, "openvino@cpu").options
    assert ov.num_threads == 3 and ov.cache_dir == "/models/cache"  # the model's own cache wins


def test_model_preferences_overlay_global_ones():
    server = Preferences(strict=True, precision="fp16", device="gpu")
    model = Preferences(device="cpu", precision=None)
    merged = server.overlay(model)
    assert (merged.strict, merged.device, merged.precision) == (True, "cpu", None)
    assert server.overlay(None) is server


def test_preferences_are_validated():
    with pytest.raises(ValidationError, match="unknown device"):
        Preferences(device="tpu")
    with pytest.raises(ValidationError):
        Preferences(backend="tflite")
    with pytest.raises(ValidationError):
        Preferences(stict=True)
    assert Preferences(device="GPU:1").device == "gpu:1"
