"""`serve` processes on this machine: --workers auto (one per usable core), and the threads' CPU scheduling."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from clients import SwitchyardClient
from service.settings import ServerSettings
from service.workers import auto_workers
from tests.conftest import free_port, serving, write_model
from tests.fixtures.models import add_model


def test_auto_starts_one_worker_per_usable_core(tmp_path):
    expected, _ = auto_workers(ServerSettings(workers="auto"))  # this machine: its affinity and cgroup quota
    write_model(tmp_path, "add", add_model(), "backend: onnxruntime\n")
    with (
        (tmp_path / "serve.log").open("w+") as log,
        serving(sys.executable, tmp_path, "--workers", "auto", "--port", str(free_port()), stderr=log) as (
            proc,
            address,
        ),
    ):
        instances = set()
        # Each client a new connection (its own subchannel pool: grpc would otherwise hand a new
        # channel the connection a closed one left behind); the kernel picks a worker per connection.
        fresh = [("grpc.use_local_subchannel_pool", 1)]
        for _ in range(12 * expected):
            with SwitchyardClient(address, options=fresh) as client:
                instances.add(client.server_info(timeout=30).instance)
                out = client.predict("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
                assert out["sum"].tolist() == [[2, 2, 2, 2]]
        assert len(instances) == expected, instances
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.seek(0)
        assert f"--workers auto: {expected} worker(s)" in log.read()


def _policies(pid: int) -> dict[int, int]:
    """Scheduling policy of each thread of `pid` (field 41 of /proc/<pid>/task/<tid>/stat)."""
    policies = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        policies[int(task.name)] = int(fields[41 - 3])
    return policies


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
@pytest.mark.parametrize(("setting", "expected"), [(None, "SCHED_BATCH"), ("normal", "SCHED_OTHER")])
def test_a_served_process_runs_every_thread_under_its_cpu_scheduling(tmp_path, setting, expected):
    write_model(tmp_path, "add", add_model(), "backend: onnxruntime\n")
    env = {"SWITCHYARD_CPU_SCHEDULING": setting} if setting else None
    with serving(sys.executable, tmp_path, env=env) as (proc, address):
        with SwitchyardClient(address) as client:  # a call, so grpc's per-call threads exist too
            out = client.predict("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
            assert out["sum"].tolist() == [[2, 2, 2, 2]]
        policies = _policies(proc.pid)
        assert len(policies) > 3  # the loop, grpc's poller and event-engine threads, ...
        assert set(policies.values()) == {getattr(os, expected)}, policies
