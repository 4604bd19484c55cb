"""Memory headroom for a swap: a reload loads the new version beside the serving one.

Two copies of a model are in memory for the length of the load, warmup and drain. When the
memory the new copy will take is more than the device has free, loading it could get the
whole server killed (the kernel's or the container's out-of-memory killer) and take the
working version down with it, which a reload must never do. So the reload is refused
before it loads, and the serving version keeps serving.

Checked where the device reports its free memory: the host (MemAvailable in /proc/meminfo,
and the container's cgroup limit minus its usage). Accelerators report totals only here
(backends/probe), so a swap onto a GPU or NPU is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backends.base import Device
from backends.probe.sysroot import SysRoot, parse_key_values

MIB = 1 << 20
# A runtime holds about its artifact's size once loaded, and more while it reads and
# optimises the graph; twice the files' size is the default estimate of what loading one more
# takes (the reload_memory_factor setting).
LOAD_FACTOR = 2.0
# cgroup v2 then v1, as a container sees its own cgroup (its namespace's root).
_CGROUP_FILES = (
    ("sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory.current"),
    ("sys/fs/cgroup/memory/memory.limit_in_bytes", "sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


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
    found: list[int] = []
    available = parse_key_values(sys.read("proc/meminfo")).get("MemAvailable", "").split()
    if available and available[0].isdigit():
        found.append(int(available[0]) * 1024)
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = sys.read(limit_file), sys.read(usage_file)
        if limit and usage and limit.isdigit() and usage.isdigit():  # "max": no limit
            found.append(max(int(limit) - int(usage), 0))
            break
    return min(found) if found else None


def headroom(
    model_dir: Path, versions: list[int], device: Device, sysroot: Path, factor: float = LOAD_FACTOR
) -> Headroom | None:
    """The estimate against what the device reports; None when the device reports nothing."""
    available = available_bytes(device, sysroot)
    if available is None:
        return None
    return Headroom(int(artifact_bytes(model_dir, versions) * factor), available, factor)
