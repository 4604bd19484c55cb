"""`serve --workers 2`: two processes share the port; connections spread; SIGTERM stops both."""

from __future__ import annotations

import signal
import socket
import sys

import numpy as np

from clients import SwitchyardClient
from tests.conftest import start_serve_process, write_model
from tests.fixtures.models import add_model


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_workers_share_the_port_and_stop_together(tmp_path):
    write_model(tmp_path, "add", add_model(), "backend: onnxruntime\n")
    proc, address = start_serve_process(sys.executable, tmp_path, "--workers", "2", "--port", str(free_port()))
    try:
        instances = set()
        for _ in range(24):  # each client is a new connection; the kernel picks a worker per connection
            with SwitchyardClient(address) as client:
                instances.add(client.server_info(timeout=10).instance)
                out = client.predict("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
                assert out["sum"].tolist() == [[2, 2, 2, 2]]
        assert len(instances) == 2, instances
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
