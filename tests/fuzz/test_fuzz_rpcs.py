"""Mutated and random bodies for every RPC of switchyard.v1.Predict and the Open Inference
Protocol, sent raw (no serializers) through a real channel to a real server on 127.0.0.1:0.

Every call ends within its deadline with a status from an allowed set (never UNKNOWN or
INTERNAL), no status or in-band error shows a Python exception name or a traceback, a body
that does not decode is INVALID_ARGUMENT saying which message it is not, the two inference
streams answer such a message in band and go on, and the server still answers a health
check and a valid Predict afterwards. Seed and size: tests/fuzz/conftest.py.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.inference import grpc_service_pb2 as oip
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import video_pb2 as vpb
from tests.fuzz.corpus import (
    ADD,
    IN_BAND,
    STREAM_SEEDS,
    UNARY_SEEDS,
    UNIMPLEMENTED,
    every_method,
    request_class,
)
from tests.fuzz.mutations import mutate
from tests.fuzz.raw import AT_ONCE, DEADLINE_S, StreamClient, call_unary
from tests.integration.conftest import Running

OK = grpc.StatusCode.OK
ALLOWED = frozenset(
    {
        OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAVAILABLE,  # a model that is not ready (e.g. one a fuzzed unload took away)
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
LEAK = re.compile(r"[A-Z][a-zA-Z]+Error|Traceback")
MIN_CASES = 4
SHOWN_FAILURES = 8


@dataclass(frozen=True)
class Channels:
    unary: grpc.aio.Channel
    stream: StreamClient


@dataclass
class Case:
    index: int
    mutation: str
    messages: list[bytes]
    position: int  # the mutated message's index in `messages`

    def __str__(self) -> str:
        body = self.messages[self.position]
        return f"case {self.index} ({self.mutation}, message {self.position + 1}, body {body[:48].hex()})"


def allowed(path: str) -> frozenset[grpc.StatusCode]:
    return ALLOWED | {grpc.StatusCode.UNIMPLEMENTED} if path in UNIMPLEMENTED else ALLOWED


def make_cases(path: str, seed: int, count: int) -> list[Case]:
    rng = random.Random(f"{seed}{path}")
    donors = [b for bodies in UNARY_SEEDS.values() for b in bodies]
    donors += [b for streams in STREAM_SEEDS.values() for stream in streams for b in stream]
    cases = []
    for index in range(count):
        if path in UNARY_SEEDS:
            messages, position = [rng.choice(UNARY_SEEDS[path])], 0
        else:
            messages = list(rng.choice(STREAM_SEEDS[path]))
            # In-band streams: a valid message on either side shows the stream goes on.
            position = 1 if path in IN_BAND else rng.randrange(len(messages))
        mutation, messages[position] = mutate(rng, messages[position], donors)
        cases.append(Case(index, mutation, messages, position))
    return cases


def decodes(path: str, body: bytes) -> bool:
    try:
        request_class(path).FromString(body)
    except Exception:  # the same parser the server uses: DecodeError, or its recursion limit
        return False
    return True


def refusal(path: str, case: Case) -> str:
    """The INVALID_ARGUMENT message of a body that does not decode."""
    where = "" if path in UNARY_SEEDS else f" (message {case.position + 1} of the stream)"
    return f"request body is not a valid {request_class(path).DESCRIPTOR.full_name}{where}"


def status_problems(path: str, code: grpc.StatusCode, details: str) -> list[str]:
    problems = []
    if code not in allowed(path):
        problems.append(f"status {code.name}: {details!r}")
    if LEAK.search(details):
        problems.append(f"details show Python internals: {details!r}")
    return problems


async def unary_problems(channels: Channels, path: str, case: Case) -> list[str]:
    code, details = await call_unary(channels.unary, path, case.messages[0])
    problems = status_problems(path, code, details)
    refused = (grpc.StatusCode.INVALID_ARGUMENT, refusal(path, case))
    if not decodes(path, case.messages[0]) and (code, details) != refused:
        problems.append(f"an undecodable body got {code.name}: {details!r}")
    return problems


def in_band_error(path: str, reply: bytes) -> tuple[str, str] | None:
    """(code name, message) of a reply's in-band error; ModelStreamInfer's carry no code."""
    if path.endswith("/PredictStream"):
        error = pb.PredictStreamResponse.FromString(reply).error
        return (error.code, error.message) if error.code else None
    message = oip.ModelStreamInferResponse.FromString(reply).error_message
    return ("", message) if message else None


async def in_band_stream_problems(channels: Channels, path: str, case: Case) -> list[str]:
    replies, code, details = await channels.stream.call(path, case.messages)
    problems = status_problems(path, code, details)
    if code is not OK or len(replies) != len(case.messages):
        return [*problems, f"{len(replies)} replies to {len(case.messages)} messages, then {code.name}: {details!r}"]
    errors = [in_band_error(path, reply) for reply in replies]
    for number, error in enumerate(errors, 1):
        if error is None:
            continue
        name, message = error
        if name and grpc.StatusCode[name] not in ALLOWED:
            problems.append(f"reply {number}: in-band {name}: {message!r}")
        if LEAK.search(message):
            problems.append(f"reply {number}: in-band error shows Python internals: {message!r}")
        if number - 1 != case.position:
            problems.append(f"reply {number} to a valid message is an error: {message!r}")
    if not decodes(path, case.messages[case.position]):
        expected = ("INVALID_ARGUMENT" if path.endswith("/PredictStream") else "", refusal(path, case))
        if errors[case.position] != expected:
            problems.append(f"the undecodable message was answered {errors[case.position]!r}")
    return problems


async def video_problems(channels: Channels, path: str, case: Case) -> list[str]:
    replies, code, details = await channels.stream.call(path, case.messages)
    problems = status_problems(path, code, details)
    for reply in map(vpb.StreamVideoResponse.FromString, replies):
        if reply.HasField("error"):
            problems += [f"frame {reply.index}: {p}" for p in status_problems(path, OK, reply.error.message)]
            if grpc.StatusCode[reply.error.code] not in ALLOWED:
                problems.append(f"frame {reply.index}: in-band {reply.error.code}: {reply.error.message!r}")
    refused = (grpc.StatusCode.INVALID_ARGUMENT, refusal(path, case))
    if not decodes(path, case.messages[case.position]) and (code, details) != refused:
        problems.append(f"a stream with an undecodable message ended {code.name}: {details!r}")
    return problems


async def still_serving(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE_S)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    ones = np.ones((1, 4), np.float32)
    out = await running.client.predict(ADD, {"a": ones, "b": ones}, timeout=DEADLINE_S)
    assert out["sum"].tolist() == [[2.0] * 4]


def test_every_rpc_has_seed_bodies() -> None:
    assert sorted(every_method()) == sorted([*UNARY_SEEDS, *STREAM_SEEDS])


@pytest.mark.parametrize("path", every_method())
async def test_fuzzed_bodies_get_a_proper_status(fuzz_server, stream_client, fuzz_seed, fuzz_messages, path) -> None:
    count = max(MIN_CASES, fuzz_messages // len(every_method()))
    cases = make_cases(path, fuzz_seed, count)
    check = unary_problems if path in UNARY_SEEDS else in_band_stream_problems if path in IN_BAND else video_problems
    channels = Channels(fuzz_server.channel, stream_client)
    failures: list[str] = []
    for start in range(0, len(cases), AT_ONCE):
        batch = cases[start : start + AT_ONCE]
        found = await asyncio.gather(*(check(channels, path, case) for case in batch))
        failures += [f"{case}: {problem}" for case, problems in zip(batch, found, strict=True) for problem in problems]
    assert not failures, (
        f"{len(failures)} problems in {count} cases of {path}; reproduce with "
        f"SWITCHYARD_FUZZ_SEED={fuzz_seed} SWITCHYARD_FUZZ_MESSAGES={fuzz_messages}:\n"
        + "\n".join(failures[:SHOWN_FAILURES])
    )
    await still_serving(fuzz_server)
