"""OIP TraceSetting on a Tracing of the test's own: the answer, the one settable value, the refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protos.errors import ErrorCode, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from service.observability.trace_settings import trace_setting
from service.observability.tracing import Tracing


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    # Nothing listens there: the exporter only connects when it has spans to send, and none are made.
    traced = Tracing()
    assert traced.start("http://user:secret@127.0.0.1:9", "grpc", 0.25, 500.0, "test")
    yield traced
    traced.close()


def _request(model: str = "", **settings: list[str]) -> pb.TraceSettingRequest:
    request = pb.TraceSettingRequest(model_name=model)
    for key, values in settings.items():
        request.settings[key].value.extend(values)
    return request


def _values(response: pb.TraceSettingResponse) -> dict[str, list[str]]:
    return {key: list(setting.value) for key, setting in response.settings.items()}


def test_an_empty_request_answers_the_settings_in_force_without_credentials(tracing) -> None:
    assert _values(trace_setting(tracing, _request(), may_update=False)) == {
        "trace_rate": ["0.25"],
        "trace_slow_ms": ["500"],
        "otel_endpoint": ["http://127.0.0.1:9"],
        "trace_mode": ["opentelemetry"],
    }


def test_trace_rate_changes_the_sampler_and_an_empty_value_resets_it(tracing) -> None:
    answer = trace_setting(tracing, _request(trace_rate=["0.5"]), may_update=True)
    assert _values(answer)["trace_rate"] == ["0.5"] and tracing.rate == 0.5
    assert "0.5" in tracing._sampler.get_description()
    trace_setting(tracing, _request(trace_rate=[]), may_update=True)
    assert tracing.rate == 0.25


@pytest.mark.parametrize(
    ("request_", "names"),
    [
        (_request(trace_rate=["1.5"]), "trace_rate"),
        (_request(trace_rate=["nan"]), "trace_rate"),
        (_request(trace_rate=["fast"]), "trace_rate"),
        (_request(trace_rate=["0.1", "0.2"]), "trace_rate"),
        (_request(trace_slow_ms=["10"]), "trace_slow_ms"),
        (_request(trace_level=["TIMESTAMPS"]), "trace_level"),
        (_request(model="m", trace_rate=["0.1"]), "model 'm'"),
    ],
)
def test_invalid_updates_are_invalid_argument_naming_the_setting(tracing, request_, names) -> None:
    with pytest.raises(SwitchyardError) as err:
        trace_setting(tracing, request_, may_update=True)
    assert err.value.code is ErrorCode.INVALID_ARGUMENT and names in err.value.message
    assert tracing.rate == 0.25


def test_an_update_needs_admin_and_tracing_on(tracing) -> None:
    with pytest.raises(SwitchyardError) as err:
        trace_setting(tracing, _request(trace_rate=["0.1"]), may_update=False)
    assert err.value.code is ErrorCode.PERMISSION_DENIED and "--allow-repository-admin" in err.value.message
    off = Tracing()
    assert _values(trace_setting(off, _request(), may_update=True))["otel_endpoint"] == [""]
    with pytest.raises(SwitchyardError) as err:
        trace_setting(off, _request(trace_rate=["0.1"]), may_update=True)
    assert err.value.code is ErrorCode.FAILED_PRECONDITION and "--otel-endpoint" in err.value.message
