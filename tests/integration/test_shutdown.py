"""SIGTERM on a real `switchyard serve` process: in-flight work finishes, new calls are refused, and
the process exits 0 as soon as nothing is in flight."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import PredictError, SwitchyardClient
from tests.conftest import start_serve_process, write_model
from tests.fixtures.models import add_model, slow_model


@pytest.fixture(scope="module")
def shutdown_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("shutdown_repo")
    write_model(repo, "slow", slow_model(size=768, repeats=40), "backend: onnxruntime\n")
    write_model(repo, "add", add_model(), "backend: onnxruntime\n")
    return repo


def start(repo, *extra):
    return start_serve_process(sys.executable, repo, *extra)


def test_sigterm_drains_in_flight_then_refuses_and_exits_zero(shutdown_repo):
    # Generous limits everywhere: on a loaded machine the slow call may take long, and nothing
    # here waits on time, only on the server's own signals (in_flight, refusal, exit).
    proc, address = start(shutdown_repo, "--grace-period", "300")
    try:
        with SwitchyardClient(address) as client, ThreadPoolExecutor(1) as pool:
            x = np.eye(768, dtype=np.float32)
            slow = pool.submit(client.predict, "slow", {"x": x}, timeout=300)
            while client.get_model("slow").statistics.in_flight < 1:  # spin on RPCs until it is in
                assert not slow.done()
            proc.send_signal(signal.SIGTERM)
            # grpc refuses new calls once the drain starts (GOAWAY, listener closed) while the
            # slow one is still running; the client's retries end in UNAVAILABLE (nowhere to go).
            refused = None
            while refused is None:
                try:
                    client.predict(
                        "add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, timeout=60
                    )
                except PredictError as error:
                    refused = error
            assert refused.code == grpc.StatusCode.UNAVAILABLE
            result = slow.result(timeout=300)
            assert result["y"].shape == (768, 768)
        # Exits as soon as the slow call is answered, not when the 300 s grace is over.
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_health_reports_not_serving_after_sigterm(shutdown_repo):
    proc, address = start(shutdown_repo, "--grace-period", "30")
    try:
        with SwitchyardClient(address) as client, ThreadPoolExecutor(1) as pool:
            slow = pool.submit(client.predict, "slow", {"x": np.eye(768, dtype=np.float32)}, timeout=60)
            while client.get_model("slow").statistics.in_flight < 1:
                pass
            channel = grpc.insecure_channel(address)
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service="model/slow"))
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            os.kill(proc.pid, signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
            channel.close()
            slow.result(timeout=60)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
