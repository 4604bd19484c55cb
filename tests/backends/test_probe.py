"""The hardware probe over sysroot fixtures (GPU facts this machine lacks) and the live machine."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from backends.probe import HardwareReport, probe
from backends.probe.amd import gfx_name, read_amd
from backends.probe.intel import read_intel
from backends.probe.nvidia import read_nvidia
from backends.probe.runtimes import simple_info
from backends.probe.sysroot import SysRoot, parse_cpu_list

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
GiB = 1 << 30


def fixture(name: str) -> HardwareReport:
    return probe(SYSROOTS / name, runtimes=())


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_container_honours_cgroup_quota_affinity_and_memory_limit():
    report = fixture("cpu-container-quota")
    cpu = report.cpu
    assert cpu.model == "AMD EPYC 7B13" and cpu.vendor == "AuthenticAMD"
    assert cpu.logical_cpus == 16
    assert cpu.affinity == tuple(range(8))
    assert cpu.cgroup_quota_cpus == 1.5
    assert cpu.usable_cpus == 1.5  # the quota is tighter than the 8-CPU affinity
    assert cpu.flags == ("avx", "avx2", "fma")
    assert cpu.memory_bytes == 65_536_000 * 1024
    assert cpu.cgroup_memory_limit_bytes == 4 * GiB
    assert cpu.usable_memory_bytes == 4 * GiB
    assert not cpu.supports_bf16
    assert report.accelerators == () and report.issues == ()


def test_cgroup_v1_quota_and_memory_limit(tmp_path):
    write(tmp_path, "proc/cpuinfo", "processor\t: 0\nflags\t: avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    write(tmp_path, "proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    write(tmp_path, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", str(2 * GiB))
    write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712")
    cpu = probe(tmp_path, runtimes=()).cpu
    assert cpu.logical_cpus == 2
    assert cpu.cgroup_quota_cpus == 0.5 and cpu.usable_cpus == 0.5
    assert cpu.cgroup_memory_limit_bytes == 2 * GiB
    assert cpu.memory_bytes is None and cpu.usable_memory_bytes == 2 * GiB
    assert cpu.supports_bf16 and cpu.flags == ("avx2", "avx512f", "avx512_bf16")


def test_cgroup_v2_nested_quota_takes_the_tightest_ancestor(tmp_path):
    write(tmp_path, "proc/cpuinfo", "".join(f"processor\t: {i}\n\n" for i in range(8)))
    write(tmp_path, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n")
    write(tmp_path, "proc/self/status", "Cpus_allowed_list:\t0-1,4\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpu.max", "400000 100000\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n")
    cpu = probe(tmp_path, runtimes=()).cpu
    assert cpu.cgroup_quota_cpus == 4.0
    assert cpu.affinity == (0, 1, 4) and cpu.usable_cpus == 3.0  # affinity is tighter here


def test_parse_cpu_list():
    assert parse_cpu_list("0-3,6,8-9\n") == [0, 1, 2, 3, 6, 8, 9]
    assert parse_cpu_list("") == [] and parse_cpu_list(None) == []


def test_one_nvidia_gpu_from_procfs():
    report = fixture("nvidia-1x")
    (gpu,) = report.devices("gpu", "nvidia")
    assert (gpu.name, gpu.index, gpu.source) == ("NVIDIA A100-SXM4-40GB", 0, "procfs")
    assert gpu.compute_capability == "8.0"
    assert gpu.driver_version == "550.54.14"
    assert gpu.pci_id == "0000:07:00.0" and gpu.usable
    assert gpu.memory_bytes is None  # procfs has no memory size: NVML does
    assert "procfs" in report.sources


def test_two_nvidia_gpus_keep_driver_order():
    gpus = fixture("nvidia-2x").devices("gpu", "nvidia")
    assert [(g.index, g.name, g.pci_id, g.compute_capability) for g in gpus] == [
        (0, "NVIDIA L4", "0000:3b:00.0", "8.9"),
        (1, "NVIDIA L4", "0000:5e:00.0", "8.9"),
    ]


def test_nvidia_gpu_without_device_node_is_not_usable(tmp_path):
    write(tmp_path, "proc/driver/nvidia/gpus/0000:01:00.0/information", "Model: \t Tesla T4\nDevice Minor: \t 0\n")
    (gpu,) = read_nvidia(SysRoot(tmp_path)).accelerators
    assert not gpu.usable and "/dev/nvidia0" in gpu.note
    assert gpu.compute_capability == "7.5"


def test_amd_instinct_from_kfd_topology_and_drm():
    report = fixture("amd-instinct")
    (gpu,) = report.devices("gpu", "amd")
    assert gpu.name == "AMD Instinct MI300X"
    assert gpu.gfx_target == "gfx942"
    assert gpu.memory_bytes == 205822885888
    assert gpu.pci_id == "0000:0c:00.0" and gpu.device_id == "0x74a1"
    assert gpu.source == "kfd" and gpu.usable
    assert report.devices("gpu", "nvidia") == () and report.devices("gpu", "intel") == ()


@pytest.mark.parametrize("version,name", [(90402, "gfx942"), (90010, "gfx90a"), (110000, "gfx1100"), (90008, "gfx908")])
def test_gfx_target_names(version, name):
    assert gfx_name(version) == name


def test_amd_card_without_kfd_is_seen_but_not_usable(tmp_path):
    write(tmp_path, "sys/class/drm/card0/device/vendor", "0x1002\n")
    write(tmp_path, "sys/class/drm/card0/device/product_name", "AMD Radeon PRO W7900\n")
    (gpu,) = read_amd(SysRoot(tmp_path)).accelerators
    assert gpu.name == "AMD Radeon PRO W7900" and gpu.source == "drm"
    assert not gpu.usable and "/dev/kfd" in gpu.note


def test_intel_igpu_and_npu_from_drm_and_accel():
    report = fixture("intel-igpu-npu")
    (gpu,) = report.devices("gpu", "intel")
    (npu,) = report.devices("npu", "intel")
    assert gpu.device_id == "0x7d55" and gpu.openvino_name == "GPU" and gpu.usable
    assert npu.device_id == "0x7d1d" and npu.openvino_name == "NPU"
    assert report.cpu.flags == ("avx", "avx2", "fma", "avx_vnni")


def test_mixed_nvidia_and_intel():
    report = fixture("mixed-nvidia-intel")
    assert [(a.vendor, a.kind, a.name) for a in report.accelerators] == [
        ("nvidia", "gpu", "NVIDIA GeForce RTX 4090"),
        ("intel", "gpu", "Intel GPU 0x7d55"),
    ]
    assert report.devices("gpu", "nvidia")[0].compute_capability == "8.9"


def test_report_round_trips_through_json():
    report = fixture("mixed-nvidia-intel")
    data = json.loads(report.to_json())
    assert data["accelerators"][0]["vendor"] == "nvidia"
    assert HardwareReport.from_dict(data) == report


class FakeNvml:
    """NVML's answers on a 1-GPU host: the part of the GPU facts this machine lacks."""

    def __init__(self, fail_init: Exception | None = None, fail_memory: bool = False):
        self.fail_init, self.fail_memory, self.shutdown = fail_init, fail_memory, False

    def nvmlInit(self):
        if self.fail_init:
            raise self.fail_init

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return b"560.35.03"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12060

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle):
        if self.fail_memory:
            raise RuntimeError("GPU is lost")
        return SimpleNamespace(total=80 * GiB)

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        return (9, 0)

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(busId=b"00000000:07:00.0")


def test_nvml_answers_are_used_when_present():
    nvml = FakeNvml()
    found = read_nvidia(SysRoot(SYSROOTS / "nvidia-1x"), nvml)
    (gpu,) = found.accelerators
    assert (gpu.name, gpu.source, gpu.memory_bytes) == ("NVIDIA H100 80GB HBM3", "nvml", 80 * GiB)
    assert (gpu.compute_capability, gpu.cuda_version, gpu.driver_version) == ("9.0", "12.6", "560.35.03")
    assert gpu.pci_id == "0000:07:00.0"
    assert nvml.shutdown and found.issues == []


def test_a_failing_nvml_call_is_an_issue_not_an_exception():
    found = read_nvidia(SysRoot(SYSROOTS / "nvidia-1x"), FakeNvml(fail_memory=True))
    (gpu,) = found.accelerators
    assert gpu.memory_bytes is None and gpu.name == "NVIDIA H100 80GB HBM3"
    assert [(i.source, i.message) for i in found.issues] == [("nvml", "RuntimeError: GPU is lost")]


def test_broken_driver_falls_back_to_procfs_and_is_reported():
    found = read_nvidia(SysRoot(SYSROOTS / "nvidia-1x"), FakeNvml(fail_init=OSError("Driver Not Loaded")))
    (gpu,) = found.accelerators
    assert gpu.source == "procfs" and gpu.name == "NVIDIA A100-SXM4-40GB"
    assert found.issues[0].message == "OSError: Driver Not Loaded"


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is None, reason="nvidia-ml-py not installed")
def test_real_nvml_without_a_driver_library_is_reported():
    # nvidia-ml-py is installed but this machine has no libnvidia-ml.so: the real failure.
    report = probe(SYSROOTS / "nvidia-1x", runtimes=(), use_libraries=True)
    assert report.devices("gpu", "nvidia")[0].source == "procfs"
    assert any(i.source == "nvml" and "NVMLError" in i.message for i in report.issues)


def test_amdsmi_answers_are_used_when_present():
    amdsmi = SimpleNamespace(
        AmdSmiMemoryType=SimpleNamespace(VRAM="vram"),
        amdsmi_init=lambda: None,
        amdsmi_shut_down=lambda: None,
        amdsmi_get_processor_handles=lambda: ["h0"],
        amdsmi_get_gpu_asic_info=lambda h: {
            "market_name": "AMD Instinct MI250X",
            "target_graphics_version": "gfx90a",
            "device_id": "0x740c",
        },
        amdsmi_get_gpu_memory_total=lambda h, kind: 64 * GiB if kind == "vram" else 0,
        amdsmi_get_gpu_device_bdf=lambda h: "0000:C1:00.0",
        amdsmi_get_gpu_driver_info=lambda h: {"driver_version": "6.8.5"},
    )
    (gpu,) = read_amd(SysRoot(SYSROOTS / "amd-instinct"), amdsmi).accelerators
    assert (gpu.name, gpu.gfx_target, gpu.memory_bytes, gpu.source) == (
        "AMD Instinct MI250X",
        "gfx90a",
        64 * GiB,
        "amdsmi",
    )
    assert gpu.pci_id == "0000:c1:00.0" and gpu.driver_version == "6.8.5"


def test_openvino_device_list_names_intel_gpus_and_npu():
    names = {
        "GPU.0": "Intel(R) UHD Graphics 770 (iGPU)",
        "GPU.1": "Intel(R) Arc(TM) A770 Graphics (dGPU)",
        "NPU": "Intel(R) AI Boost",
    }

    def get_property(device, key):
        if key == "GPU_DEVICE_TOTAL_MEM_SIZE":
            return 16 * GiB if device == "GPU.1" else 8 * GiB
        return names[device]

    core = SimpleNamespace(available_devices=["CPU", "GPU.0", "GPU.1", "NPU"], get_property=get_property)
    found = read_intel(SysRoot(SYSROOTS / "intel-igpu-npu"), core)
    assert [(a.kind, a.index, a.openvino_name, a.name, a.memory_bytes) for a in found.accelerators] == [
        ("gpu", 0, "GPU.0", names["GPU.0"], 8 * GiB),
        ("gpu", 1, "GPU.1", names["GPU.1"], 16 * GiB),
        ("npu", 0, "NPU", names["NPU"], None),
    ]


def test_live_machine_probe():
    report = probe()
    assert report.cpu.logical_cpus >= 1 and report.cpu.usable_cpus <= len(os.sched_getaffinity(0))
    assert report.cpu.usable_memory_bytes and report.cpu.usable_memory_bytes > 0
    ort = report.runtime("onnxruntime")
    assert ort is not None and ort.importable and "CPUExecutionProvider" in ort.providers
    assert ort.flavour and ort.flavour.startswith("onnxruntime")
    ov = report.runtime("openvino")
    assert ov is not None and ov.importable and "CPU" in ov.devices
    trt = report.runtime("tensorrt")
    assert trt is not None and trt.importable == (importlib.util.find_spec("tensorrt") is not None)
    json.dumps(report.to_dict())


def test_a_runtime_that_fails_to_import_is_reported(tmp_path, monkeypatch):
    write(tmp_path, "brokenrt/__init__.py", "raise ImportError('libnvinfer.so.10: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    info = simple_info("brokenrt", "brokenrt")
    assert not info.importable and "libnvinfer.so.10" in (info.error or "")
    assert simple_info("absent", "no_such_module_here") == type(info)("absent", importable=False)
