"""The hardware probe: what accelerators, CPU and runtimes this machine offers, as plain data.

    report = probe()                       # this machine
    report = probe(Path("tests/fixtures/sysroots/nvidia-1x"), runtimes=...)  # any machine

Everything is read below `sysroot`. Driver libraries (NVML, amdsmi) and OpenVINO's device
list describe the live machine only, so they are consulted only when sysroot is "/";
their failures are recorded in report.issues, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backends.probe.amd import load_amdsmi, read_amd
from backends.probe.cpu import read_cpu
from backends.probe.intel import read_intel
from backends.probe.nvidia import load_nvml, read_nvidia
from backends.probe.report import (
    AcceleratorInfo,
    CpuInfo,
    Findings,
    HardwareReport,
    ProbeIssue,
    RuntimeInfo,
)
from backends.probe.runtimes import openvino_core, read_runtimes
from backends.probe.sysroot import SysRoot

__all__ = [
    "AcceleratorInfo",
    "CpuInfo",
    "HardwareReport",
    "ProbeIssue",
    "RuntimeInfo",
    "probe",
]


def probe(
    sysroot: Path = Path("/"),
    *,
    runtimes: Sequence[RuntimeInfo] | None = None,
    use_libraries: bool | None = None,
) -> HardwareReport:
    """Probe the machine below `sysroot`.

    runtimes: the runtimes to report; None imports the real ones from this environment.
    use_libraries: consult NVML / amdsmi / OpenVINO for devices; default only on the live root.
    """
    sys = SysRoot(Path(sysroot))
    live = sys.is_live if use_libraries is None else use_libraries
    core = openvino_core() if live or runtimes is None else None
    findings: list[Findings] = [
        read_nvidia(sys, load_nvml() if live else None),
        read_amd(sys, load_amdsmi() if live else None),
        read_intel(sys, core if live else None),
    ]
    return HardwareReport(
        cpu=read_cpu(sys),
        accelerators=tuple(a for f in findings for a in f.accelerators),
        runtimes=tuple(runtimes) if runtimes is not None else read_runtimes(core),
        issues=tuple(i for f in findings for i in f.issues),
        sysroot=str(sysroot),
        sources=tuple(["cpuinfo", *[s for f in findings for s in f.sources]]),
    )
