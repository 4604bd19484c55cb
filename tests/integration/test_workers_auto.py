"""`serve --workers auto` on this machine: as many processes as usable cores, each its own instance."""

from __future__ import annotations

import signal
import sys

import numpy as np

from clients import SwitchyardClient
from service.settings import ServerSettings
from service.workers import auto_workers
from tests.conftest import serving, write_model
from tests.fixtures.models import add_model
from tests.integration.test_workers import free_port


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
