"""The CPU: model, ISA flags, and the cores and memory this process may really use.

Containers see the host's CPUs in /proc/cpuinfo; what they may use is the smaller of the
affinity mask and the cgroup CPU quota, and the memory is capped by the cgroup limit.
Both cgroup v2 (cpu.max, memory.max) and v1 (cpu.cfs_quota_us, memory.limit_in_bytes)
are read.
"""

from __future__ import annotations

from backends.probe.report import ISA_FLAGS, CpuInfo
from backends.probe.sysroot import SysRoot, parse_cpu_list, parse_key_values

# cgroup v1 reports "unlimited" as a page-rounded 2^63-1.
_UNLIMITED = 1 << 62


def read_cpu(sys: SysRoot) -> CpuInfo:
    cpuinfo = sys.read("proc/cpuinfo") or ""
    first = parse_key_values(cpuinfo.split("\n\n")[0])
    processors = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    online = parse_cpu_list(sys.read("sys/devices/system/cpu/online"))
    logical = len(online) or processors or 1

    status = parse_key_values(sys.read("proc/self/status"))
    affinity = tuple(parse_cpu_list(status.get("Cpus_allowed_list"))) or tuple(range(logical))
    quota = cgroup_cpu_quota(sys)
    usable = float(len(affinity))
    if quota is not None:
        usable = min(usable, quota)

    flags = set(first.get("flags", first.get("Features", "")).split())
    memory = _meminfo_total(sys)
    limit = cgroup_memory_limit(sys)
    usable_memory = min(x for x in (memory, limit) if x is not None) if (memory or limit) else None
    return CpuInfo(
        model=first.get("model name") or first.get("Model") or first.get("cpu model") or "unknown",
        vendor=first.get("vendor_id") or first.get("CPU implementer") or "unknown",
        logical_cpus=logical,
        usable_cpus=round(usable, 2),
        affinity=affinity,
        cgroup_quota_cpus=quota,
        flags=tuple(f for f in ISA_FLAGS if f in flags),
        memory_bytes=memory,
        cgroup_memory_limit_bytes=limit,
        usable_memory_bytes=usable_memory,
    )


def _cgroup_dirs(sys: SysRoot, controller: str) -> list[str]:
    """Directories that may hold this process's limits for a controller, innermost first."""
    v2_path, v1_path = None, None
    for line in (sys.read("proc/self/cgroup") or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif controller in controllers.split(","):
            v1_path = path
    dirs: list[str] = []
    if v2_path is not None:
        dirs += _ancestors("sys/fs/cgroup", v2_path)
    v1_mounts = [f"sys/fs/cgroup/{controller}", "sys/fs/cgroup/cpu,cpuacct"]
    for mount in v1_mounts if controller == "cpu" else v1_mounts[:1]:
        dirs += _ancestors(mount, v1_path or "/")
    # A container's own cgroup namespace shows its cgroup at the mount point itself.
    dirs += ["sys/fs/cgroup", f"sys/fs/cgroup/{controller}"]
    return list(dict.fromkeys(dirs))


def _ancestors(mount: str, path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/".join([mount, *parts[:n]]) for n in range(len(parts), -1, -1)]


def cgroup_cpu_quota(sys: SysRoot) -> float | None:
    """The tightest CPU quota in CPUs (1.5 = one and a half cores), None when unlimited."""
    quotas: list[float] = []
    for d in _cgroup_dirs(sys, "cpu"):
        cpu_max = sys.read(f"{d}/cpu.max")
        if cpu_max:
            quota, _, period = cpu_max.partition(" ")
            if quota != "max" and period.strip().isdigit() and int(period) > 0:
                quotas.append(int(quota) / int(period))
            continue
        quota_us = sys.read_int(f"{d}/cpu.cfs_quota_us")
        period_us = sys.read_int(f"{d}/cpu.cfs_period_us")
        if quota_us is not None and quota_us > 0 and period_us:
            quotas.append(quota_us / period_us)
    return round(min(quotas), 2) if quotas else None


def cgroup_memory_limit(sys: SysRoot) -> int | None:
    limits: list[int] = []
    for d in _cgroup_dirs(sys, "memory"):
        for name in ("memory.max", "memory.limit_in_bytes"):
            text = sys.read(f"{d}/{name}")
            if text and text.isdigit() and int(text) < _UNLIMITED:
                limits.append(int(text))
    return min(limits) if limits else None


# Each cgroup version's limit file with the usage it is measured against.
_MEMORY_FILES = (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes"))


def cgroup_memory_free(sys: SysRoot) -> int | None:
    """Bytes left under the tightest cgroup memory limit (limit minus usage), None when unlimited."""
    free: list[int] = []
    for d in _cgroup_dirs(sys, "memory"):
        for limit_name, usage_name in _MEMORY_FILES:
            limit, usage = sys.read(f"{d}/{limit_name}"), sys.read(f"{d}/{usage_name}")
            if limit and usage and limit.isdigit() and usage.isdigit() and int(limit) < _UNLIMITED:
                free.append(max(int(limit) - int(usage), 0))
    return min(free) if free else None


def _meminfo_total(sys: SysRoot) -> int | None:
    return _meminfo_bytes(sys, "MemTotal")


def meminfo_available(sys: SysRoot) -> int | None:
    """MemAvailable from /proc/meminfo in bytes: what the host can give without swapping."""
    return _meminfo_bytes(sys, "MemAvailable")


def _meminfo_bytes(sys: SysRoot, key: str) -> int | None:
    value = parse_key_values(sys.read("proc/meminfo")).get(key, "")
    number = value.split()[0] if value else ""
    return int(number) * 1024 if number.isdigit() else None
