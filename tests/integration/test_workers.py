"""`serve --workers 2`: two processes share the port; connections spread; a killed worker is
replaced; SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import numpy as np

from clients import PredictError, SwitchyardClient
from tests.conftest import free_port, start_serve_process, write_model
from tests.fixtures.models import add_model


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


def worker_pid(address: str) -> int:
    """The pid of the worker that answers a new connection (GetServerInfo.instance is host:pid)."""
    with SwitchyardClient(address) as client:
        out = client.predict("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, timeout=30)
        assert out["sum"].tolist() == [[2, 2, 2, 2]]
        return int(client.server_info(timeout=10).instance.rpartition(":")[2])


def test_a_killed_worker_is_replaced_while_the_other_keeps_serving(tmp_path):
    write_model(tmp_path, "add", add_model(), "backend: onnxruntime\n")
    proc, address = start_serve_process(sys.executable, tmp_path, "--workers", "2", "--port", str(free_port()))
    try:
        first = {worker_pid(address) for _ in range(24)}  # each a new connection: the kernel spreads them
        assert len(first) == 2, first
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        # A connection that reaches the dying worker's socket is reset (SO_REUSEPORT has no
        # hand-over); the others are answered by the survivor until the replacement answers too.
        deadline = time.monotonic() + 90
        answered: set[int] = set()
        while not answered - first and time.monotonic() < deadline:
            try:
                answered.add(worker_pid(address))
            except PredictError as error:
                assert error.code == grpc.StatusCode.UNAVAILABLE, error
        replacement = answered - first
        assert len(replacement) == 1, f"no new worker answered within 90 s (answers came from {answered})"
        assert answered & first == first - {victim}
        # From now on every connection is answered, by the survivor or the replacement.
        assert {worker_pid(address) for _ in range(16)} <= (first - {victim}) | replacement
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:  # SIGTERM first: a killed supervisor would leave its workers running
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.stdout.close()
