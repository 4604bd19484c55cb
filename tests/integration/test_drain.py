"""SIGTERM on one of several `switchyard serve` replicas: the clients move away without a failed
call, and a stream open on the draining replica (PredictStream, StreamVideo) gets every message
the replica read answered, then ends UNAVAILABLE "server draining: reconnect"."""

from __future__ import annotations

import queue
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import Frame, PredictError, SwitchyardClient, VideoClient
from clients.request import build_request
from tests.conftest import start_serve_process, write_model
from tests.fixtures.models import add_model, tiny_cnn
from tests.integration.conftest import wait_until

ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


@pytest.fixture(scope="module")
def add_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("drain_repo")
    write_model(repo, "add", add_model(), "backend: onnxruntime\n")
    write_model(repo, "cnn", tiny_cnn(), "backend: onnxruntime\npreprocess: {size: [64, 64]}\n")
    return repo


def serve(repo):
    # A long grace: the replica must exit because nothing is in flight, not because time is up.
    return start_serve_process(sys.executable, repo, "--grace-period", "120")


def stop(proc) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def wait_not_serving(address: str, limit: float = 60.0) -> None:
    """Until the replica's health says NOT_SERVING (or it is gone); fails after `limit` seconds.

    Asked with unary Check calls: a health Watch opened while the replica shuts down was seen
    to hang past its own deadline in the test process (grpcio 1.85 sync client).
    """
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def not_serving() -> bool:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            except grpc.RpcError:
                return True  # the replica is already gone
            return reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        wait_until(not_serving, f"{address} to report NOT_SERVING after SIGTERM", limit)


def test_round_robin_loses_no_call_when_a_replica_drains(add_repo):
    procs = [serve(add_repo) for _ in range(3)]
    try:
        addresses = [address for _, address in procs]
        done = threading.Event()
        failures: list[BaseException] = []
        served = [0]

        with SwitchyardClient(addresses, timeout=30) as client:

            def load() -> None:
                while not done.is_set():
                    try:
                        out = client.predict("add", ONES)
                        assert out["sum"][0, 0] == 2
                        served[0] += 1
                    except BaseException as exc:  # every failure is the test's finding
                        failures.append(exc)

            with ThreadPoolExecutor(4) as pool:
                workers = [pool.submit(load) for _ in range(4)]
                try:
                    # Steady load on all three; a failure ends the wait at once.
                    wait_until(lambda: failures or served[0] >= 50, "50 answers from the three replicas")
                    assert not failures, failures
                    victim, _ = procs[0]
                    victim.send_signal(signal.SIGTERM)
                    assert victim.wait(timeout=60) == 0  # exits once idle, long before its 120 s grace
                    after = served[0]
                    wait_until(lambda: failures or served[0] >= after + 50, "50 answers from the two others")
                    assert not failures, failures
                finally:
                    done.set()  # on a failed check too: the pool's exit waits for the load loops to end
                for worker in workers:
                    worker.result()
        assert failures == []
    finally:
        for proc, _ in procs:
            stop(proc)


def test_open_stream_on_a_draining_replica_gets_every_read_message_answered(add_repo):
    proc, address = serve(add_repo)
    sent: queue.Queue = queue.Queue()
    try:
        with SwitchyardClient(address, retry=None) as client:

            def requests():
                while (index := sent.get()) is not None:
                    yield build_request("add", ONES, request_id=str(index))

            replies = client.predict_stream(requests())
            for index in range(5):
                sent.put(index)
            answered = [next(replies).request_id for _ in range(5)]
            assert answered == [str(i) for i in range(5)]

            proc.send_signal(signal.SIGTERM)
            wait_not_serving(address)
            with pytest.raises(PredictError) as ended:
                for reply in replies:
                    answered.append(reply.request_id)
            sent.put(None)
        assert ended.value.code == grpc.StatusCode.UNAVAILABLE
        assert "draining" in ended.value.details and "reconnect" in ended.value.details
        assert answered[:5] == ["0", "1", "2", "3", "4"]
        assert proc.wait(timeout=60) == 0  # the stream ended, so the replica did not wait out its grace
    finally:
        sent.put(None)
        stop(proc)


def test_open_video_stream_on_a_draining_replica_answers_what_it_read_in_order_then_says_reconnect(add_repo):
    proc, address = serve(add_repo)
    sent: queue.Queue = queue.Queue()
    picture = np.zeros((64, 64, 3), np.uint8).tobytes()
    try:
        with VideoClient(address, retry=None) as client:

            def frames():
                while (index := sent.get()) is not None:
                    yield Frame(picture, index=index)

            raw = dict(encoding="raw", width=64, height=64, pixel_format="RGB", returns="tensors")
            results = client.stream(frames(), model="cnn", resume=None, **raw)
            for index in range(5):
                sent.put(index)
            answered = [next(results) for _ in range(5)]
            for index in range(5, 30):  # frames in flight: some read before the drain, some not
                sent.put(index)
            proc.send_signal(signal.SIGTERM)
            wait_not_serving(address)
            with pytest.raises(PredictError) as ended:
                for result in results:
                    answered.append(result)
            sent.put(None)
        # UNAVAILABLE either way, which the video client resumes on. The server's own status says
        # "server draining: reconnect"; but this client is still writing the frames the server no
        # longer reads, and when the replica exits the kernel answers those bytes with a TCP reset,
        # which can discard the status before grpc has read it ("Stream removed ... Broken pipe").
        assert ended.value.code == grpc.StatusCode.UNAVAILABLE
        details = ended.value.details
        assert ("draining" in details and "reconnect" in details) or "Stream removed" in details, details
        # What the replica read is answered, in order, with results (not errors): a prefix.
        assert [r.index for r in answered] == list(range(len(answered)))
        assert all(r.ok for r in answered)
        assert proc.wait(timeout=60) == 0  # the stream ended, so the replica did not wait out its grace
    finally:
        sent.put(None)
        stop(proc)
