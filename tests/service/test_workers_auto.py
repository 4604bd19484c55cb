"""`--workers auto`: one worker per usable core (affinity and cgroup quota), 1 when a GPU takes the models.

The machine is presented as a sysroot (tests/fixtures/sysroots and ones written here), the
way the hardware probe reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import ServerSettings
from service.workers import auto_workers, worker_count

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def sysroot(root: Path, *, cpus: str, files: dict[str, str], cgroup: str = "0::/\n") -> Path:
    """A machine with online CPUs `cpus` (e.g. "0-7"), this process's cgroup line and its limit files."""
    (root / "proc/self").mkdir(parents=True)
    (root / "sys/devices/system/cpu").mkdir(parents=True)
    (root / "sys/devices/system/cpu/online").write_text("0-15\n")
    (root / "proc/self/status").write_text(f"Name:\tpython\nCpus_allowed_list:\t{cpus}\n")
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/cpuinfo").write_text("".join(f"processor\t: {i}\nmodel name\t: test\n\n" for i in range(16)))
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def workers_of(root: Path, device: str = "auto") -> int:
    return auto_workers(ServerSettings(probe_sysroot=root, device=device, workers="auto"))[0]


@pytest.mark.parametrize(
    ("cpus", "files", "cgroup", "expected"),
    [
        ("0-7", {}, "0::/\n", 8),  # no quota: the affinity mask
        ("0-7", {"sys/fs/cgroup/cpu.max": "max 100000\n"}, "0::/\n", 8),  # v2, unlimited
        ("0-7", {"sys/fs/cgroup/cpu.max": "250000 100000\n"}, "0::/\n", 2),  # v2: 2.5 CPUs -> 2
        ("0-7", {"sys/fs/cgroup/cpu.max": "50000 100000\n"}, "0::/\n", 1),  # half a CPU still gets one worker
        ("2,5", {"sys/fs/cgroup/cpu.max": "400000 100000\n"}, "0::/\n", 2),  # taskset narrower than the quota
        # v2 nested: the tightest ancestor wins
        (
            "0-15",
            {"sys/fs/cgroup/kubepods/cpu.max": "300000 100000\n", "sys/fs/cgroup/kubepods/pod/cpu.max": "max 100000\n"},
            "0::/kubepods/pod\n",
            3,
        ),
        # cgroup v1: cfs quota / period
        (
            "0-7",
            {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "400000\n", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"},
            "4:cpu,cpuacct:/\n",
            4,
        ),
        (
            "0-7",
            {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"},
            "4:cpu,cpuacct:/\n",
            8,
        ),
    ],
)
def test_one_worker_per_usable_core(tmp_path, cpus, files, cgroup, expected):
    assert workers_of(sysroot(tmp_path, cpus=cpus, files=files, cgroup=cgroup)) == expected


def test_the_container_quota_fixture():
    assert workers_of(SYSROOTS / "cpu-container-quota") == 1  # cpu.max 150000/100000: 1.5 CPUs


def test_a_gpu_gets_one_worker_unless_the_models_stay_on_the_cpu():
    count, why = auto_workers(ServerSettings(probe_sysroot=SYSROOTS / "nvidia-1x", workers="auto"))
    assert count == 1 and "GPU" in why and "--workers N" in why
    assert workers_of(SYSROOTS / "nvidia-1x", device="cpu") == 8  # its 8 allowed CPUs


@pytest.mark.parametrize(
    ("usable", "quota", "device", "gpu", "expected"),
    [
        (2.0, None, "auto", False, 2),
        (0.3, 0.3, "auto", False, 1),
        (128.0, None, "cpu", False, 64),  # the setting's bound
        (16.0, None, "gpu:1", False, 1),  # asked for a GPU: its memory holds one copy
        (16.0, None, "cpu", True, 16),
    ],
)
def test_worker_count_arithmetic(usable, quota, device, gpu, expected):
    count, why = worker_count(usable, quota, device, gpu)
    assert count == expected
    assert why.startswith(f"{expected} worker")


def test_the_reason_names_what_limited_the_count():
    assert "cgroup quota of 2.5 CPUs" in worker_count(2.5, 2.5, "auto", False)[1]
    assert "affinity mask" in worker_count(2.0, 6.0, "auto", False)[1]


def test_workers_setting_takes_a_count_or_auto():
    assert ServerSettings(workers="auto").workers == "auto"
    assert ServerSettings(workers="3").workers == 3
    for bad in (0, "0", 65, "many", 2.5):
        with pytest.raises(ValueError, match="from 1 to 64, or auto"):
            ServerSettings(workers=bad)
