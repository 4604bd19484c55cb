"""Memory headroom for a swap: a reload loads the new version beside the serving one.

Two copies of a model are in memory for the length of the load, warmup and drain. When the
memory the new copy will take is more than the device has free, loading it could get the
whole server killed (the kernel's or the container's out-of-memory killer) and take the
working version down with it, which a reload must never do. So the reload is refused
before it loads, and the serving version keeps serving.

Checked where the device reports its free memory: the host (MemAvailable in /proc/meminfo,
and the tightest cgroup limit minus its usage, over the process's own cgroup and its
ancestors, backends/probe/cpu.py). Accelerators report totals only here
(backends/probe), so a swap onto a GPU or NPU is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backends.base import Device
from backends.probe.cpu import cgroup_memory_free, meminfo_available
from backends.probe.sysroot import SysRoot

MIB = 1 << 20
# A runtime holds about its artifact's size once loaded, and more while it reads and
# optimises the graph; twice the files' size is the default estimate of what loading one more
# takes (the reload_memory_factor setting).
LOAD_FACTOR = 2.0


@dataclass(frozen=True)
class Headroom:
    needed: int  # bytes the new version's load is estimated to take
    available: int  # bytes the device reports free
    factor: float = LOAD_FACTOR  # needed / the files' size

    @property
    def enough(self) -> bool:
        return self.available >= self.needed

    def reason(self, device: Device) -> str:
        return (
            f"not enough memory to load the new version beside the serving one: it needs about "
            f"{self.needed / MIB:.1f} MiB ({self.factor:g}x its files), the {device} has "
            f"{self.available / MIB:.1f} MiB available; free memory, or set `reload: replace` in its "
            "config.yaml to unload the serving version first"
        )


def artifact_bytes(model_dir: Path, versions: list[int]) -> int:
    """Bytes of every file in the given version folders (symlinked artifacts followed)."""
    total = 0
    for number in versions:
        for path in (model_dir / str(number)).rglob("*"):
            if path.is_file():
                total += path.stat().st_size
    return total


def available_bytes(device: Device, sysroot: Path) -> int | None:
    """Free memory of the device, or None where it does not report it."""
    if device.kind != "cpu":
        return None
    sys = SysRoot(sysroot)
    found = [x for x in (meminfo_available(sys), cgroup_memory_free(sys)) if x is not None]
    return min(found) if found else None


def headroom(
    model_dir: Path, versions: list[int], device: Device, sysroot: Path, factor: float = LOAD_FACTOR
) -> Headroom | None:
    """The estimate against what the device reports; None when the device reports nothing."""
    available = available_bytes(device, sysroot)
    if available is None:
        return None
    return Headroom(int(artifact_bytes(model_dir, versions) * factor), available, factor)
