"""NVIDIA GPUs: NVML (nvidia-ml-py) when the driver is there, else /proc/driver/nvidia and /dev."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from backends.probe.report import AcceleratorInfo, Findings
from backends.probe.sysroot import SysRoot, parse_key_values

# Without NVML, procfs names the GPU but not its compute capability: a table of common parts.
_COMPUTE_CAPABILITY: tuple[tuple[str, str], ...] = (
    ("B200", "10.0"),
    ("B100", "10.0"),
    ("GB200", "10.0"),
    ("H100", "9.0"),
    ("H200", "9.0"),
    ("GH200", "9.0"),
    ("L40", "8.9"),
    ("L4", "8.9"),
    ("RTX 40", "8.9"),
    ("RTX 6000 Ada", "8.9"),
    ("A100", "8.0"),
    ("A30", "8.0"),
    ("A800", "8.0"),
    ("A10", "8.6"),
    ("A40", "8.6"),
    ("A16", "8.6"),
    ("A2", "8.6"),
    ("RTX 30", "8.6"),
    ("RTX A", "8.6"),
    ("T4", "7.5"),
    ("RTX 20", "7.5"),
    ("Quadro RTX", "7.5"),
    ("TITAN RTX", "7.5"),
    ("V100", "7.0"),
    ("TITAN V", "7.0"),
    ("P100", "6.0"),
    ("P40", "6.1"),
    ("P4", "6.1"),
)


def compute_capability_of(name: str) -> str | None:
    for part, capability in _COMPUTE_CAPABILITY:
        if part.lower() in name.lower():
            return capability
    return None


def load_nvml() -> ModuleType | None:
    """nvidia-ml-py's module, or None when it is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def driver_present(sys: SysRoot) -> bool:
    return sys.exists("proc/driver/nvidia") or sys.exists("dev/nvidiactl") or bool(sys.glob("dev/nvidia[0-9]*"))


def read_nvidia(sys: SysRoot, nvml: ModuleType | Any | None = None) -> Findings:
    """NVML when given and it answers; otherwise (or after it fails) the file system."""
    found = Findings()
    if not driver_present(sys):
        return found
    if nvml is not None:
        _read_nvml(nvml, found)
        if found.accelerators:
            return found
    _read_procfs(sys, found)
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_nvml(nvml: Any, found: Findings) -> None:
    found.sources.append("nvml")
    try:
        nvml.nvmlInit()
    except Exception as exc:
        found.issue("nvml", exc)
        return
    try:
        driver = found.call("nvml", lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        cuda_int = found.call("nvml", nvml.nvmlSystemGetCudaDriverVersion)
        cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}" if isinstance(cuda_int, int) else None
        count = found.call("nvml", nvml.nvmlDeviceGetCount, default=0)
        for index in range(count):
            handle = found.call("nvml", nvml.nvmlDeviceGetHandleByIndex, index)
            if handle is None:
                continue
            name = found.call("nvml", lambda h=handle: _text(nvml.nvmlDeviceGetName(h)))
            memory = found.call("nvml", lambda h=handle: int(nvml.nvmlDeviceGetMemoryInfo(h).total))
            cc = found.call("nvml", nvml.nvmlDeviceGetCudaComputeCapability, handle)
            bus = found.call("nvml", lambda h=handle: _text(nvml.nvmlDeviceGetPciInfo(h).busId))
            found.accelerators.append(
                AcceleratorInfo(
                    vendor="nvidia",
                    kind="gpu",
                    index=index,
                    name=name or f"NVIDIA GPU {index}",
                    source="nvml",
                    memory_bytes=memory,
                    compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
                    driver_version=driver,
                    cuda_version=cuda,
                    pci_id=_short_bus_id(bus) if bus else None,
                )
            )
    finally:
        found.call("nvml", nvml.nvmlShutdown)


def _short_bus_id(bus: str) -> str:
    """NVML's "00000000:07:00.0" -> the usual "0000:07:00.0"."""
    return bus[-12:].lower() if len(bus) > 12 else bus.lower()


def _read_procfs(sys: SysRoot, found: Findings) -> None:
    version = sys.read("proc/driver/nvidia/version") or ""
    match = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)", version)
    driver = match.group(1) if match else None
    nodes = {
        int(p.removeprefix("dev/nvidia"))
        for p in sys.glob("dev/nvidia[0-9]*")
        if p.removeprefix("dev/nvidia").isdigit()
    }
    gpu_dirs = sys.glob("proc/driver/nvidia/gpus/*")
    if gpu_dirs:
        found.sources.append("procfs")
    for index, gpu_dir in enumerate(gpu_dirs):
        info = parse_key_values(sys.read(f"{gpu_dir}/information"))
        name = info.get("Model") or f"NVIDIA GPU {index}"
        minor = info.get("Device Minor", "")
        minor_n = int(minor) if minor.isdigit() else index
        usable = minor_n in nodes
        found.accelerators.append(
            AcceleratorInfo(
                vendor="nvidia",
                kind="gpu",
                index=index,
                name=name,
                source="procfs",
                compute_capability=compute_capability_of(name),
                driver_version=driver,
                pci_id=(info.get("Bus Location") or gpu_dir.rsplit("/", 1)[-1]).lower(),
                usable=usable,
                note="" if usable else f"no /dev/nvidia{minor_n}: not passed into this container",
            )
        )
    if not gpu_dirs and nodes:
        found.sources.append("dev")
        for index, node in enumerate(sorted(nodes)):
            found.accelerators.append(
                AcceleratorInfo(
                    vendor="nvidia",
                    kind="gpu",
                    index=index,
                    name=f"NVIDIA GPU (/dev/nvidia{node})",
                    source="dev",
                    driver_version=driver,
                    note="only the device node is visible; details need NVML",
                )
            )
