"""Client connection behaviour against real loopback servers: address lists of host names and
IPv6, targets checked up front, wait_for_ready across a restart on the same port, keepalive
pings the server accepts, connection ageing that leaves working streams alone, and the
channel options each knob sets."""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from clients import PredictError, SwitchyardClient
from clients.connection import RetryPolicy, connection_options, resolve_target
from clients.request import build_request
from service.server import channel_options
from service.settings import ServerSettings
from tests.clients.fake_predict import FakePredict

ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


@pytest.fixture
def fake():
    server = FakePredict("[::]:0")  # dual stack: reachable as 127.0.0.1 and ::1
    yield server
    server.stop()


def test_an_address_list_of_host_names_and_ipv6_literals_round_robins(fake):
    target = f"localhost:{fake.port},[::1]:{fake.port}"
    address, round_robin = resolve_target(target)
    assert round_robin and address.startswith(("ipv4:", "ipv6:"))
    with SwitchyardClient(target) as client:
        out = client.predict("add", ONES, request_id="r1", timeout=10)
    assert out["sum"].tolist() == [[2.0] * 4] and out.request_id == "r1"


@pytest.mark.parametrize(
    "target", ["", "no-port", "host:0", "host:70000", "[::1]", "127.0.0.1:1,", "a:1,dns:///b:2", "nx.invalid:1,b:2"]
)
def test_a_target_that_is_not_an_address_is_refused_at_construction(target):
    with pytest.raises(ValueError, match="target"):
        SwitchyardClient(target)


def test_default_options_retry_idempotent_unary_calls_and_health_check_round_robin():
    options = dict(connection_options(1024, round_robin=True, retry=RetryPolicy(), keepalive=5))
    config = json.loads(options["grpc.service_config"])
    names = {entry["method"] for entry in config["methodConfig"][0]["name"]}
    assert names == {"Predict", "GetModel", "ListModels", "GetServerInfo"}  # never the streams
    assert "UNAVAILABLE" in config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    assert options["grpc.keepalive_time_ms"] == 5000
    assert options["grpc.max_reconnect_backoff_ms"] <= 1000
    off = dict(
        connection_options(1024, round_robin=False, retry=None, keepalive=None, extra=[("grpc.enable_retries", 7)])
    )
    assert "methodConfig" not in json.loads(off["grpc.service_config"])
    assert off["grpc.enable_retries"] == 7  # the caller's own options win


def test_wait_for_ready_rides_out_a_restart_on_the_same_port():
    first = FakePredict()
    port = first.port
    first.stop()
    with SwitchyardClient(f"127.0.0.1:{port}", wait_for_ready=True, timeout=60) as client:
        failing = threading.Event()
        client._channel.subscribe(
            lambda state: failing.set() if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE else None,
            try_to_connect=True,
        )
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(client.predict, "add", ONES)
            assert failing.wait(30)  # the server is down and the call is waiting, not failed
            assert not pending.done()
            second = FakePredict(f"127.0.0.1:{port}")
            try:
                assert pending.result(timeout=60)["sum"].tolist() == [[2.0] * 4]
            finally:
                second.stop()


def _goaway_within(server_settings: ServerSettings, seconds: float) -> bool:
    """Whether a client pinging every second is sent away (its connection goes IDLE) in time."""
    server = FakePredict(options=channel_options(server_settings))
    try:
        with SwitchyardClient(f"127.0.0.1:{server.port}", keepalive=1) as client:
            client.predict("add", ONES, timeout=10)
            gone = threading.Event()
            client._channel.subscribe(
                lambda state: gone.set() if state == grpc.ChannelConnectivity.IDLE else None,
            )
            return gone.wait(seconds)
    finally:
        server.stop()


def test_keepalive_pings_every_second_are_accepted_with_a_short_minimum():
    assert not _goaway_within(ServerSettings(keepalive_min_ping_interval=0.5), 4)


def test_keepalive_pings_more_often_than_the_server_permits_get_goaway():
    # The control: the same pings against a server that wants them 10x rarer are struck out.
    assert _goaway_within(ServerSettings(keepalive_min_ping_interval=10, keepalive_max_ping_strikes=1), 30)


def _stream_outlives_connection_age(server_settings: ServerSettings, seconds: float) -> int:
    """Replies of one lock-step PredictStream kept busy for `seconds` on an ageing connection."""
    server = FakePredict(options=channel_options(server_settings))
    sent: queue.Queue = queue.Queue()

    def lock_step():
        while (index := sent.get()) is not None:
            yield build_request("add", ONES, request_id=str(index))

    answered = 0
    try:
        with SwitchyardClient(f"127.0.0.1:{server.port}") as client:
            replies = client.predict_stream(lock_step(), timeout=60)
            end = time.monotonic() + seconds
            try:
                while time.monotonic() < end:
                    sent.put(answered)
                    assert next(replies).request_id == str(answered)
                    answered += 1
            finally:
                sent.put(None)
            assert list(replies) == []  # and it ends cleanly
        return answered
    finally:
        sent.put(None)
        server.stop()


def test_connection_ageing_never_cuts_a_working_stream():
    assert _stream_outlives_connection_age(ServerSettings(max_connection_age=0.5), 2.5) > 0


def test_connection_ageing_with_a_grace_cuts_streams_past_it():
    # The control: an explicit grace is the stream's limit too.
    with pytest.raises(PredictError):
        _stream_outlives_connection_age(ServerSettings(max_connection_age=0.5, max_connection_age_grace=0.5), 10)
