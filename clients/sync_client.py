"""Blocking client for switchyard.v1.Predict."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import grpc
import numpy as np

from clients.channel import PredictChannel
from clients.errors import PredictError
from clients.request import build_request, decode_outputs, stream_request, stream_result
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = ["SwitchyardClient"]


class SwitchyardClient(PredictChannel):
    """`SwitchyardClient("host:8001")`, or several addresses / a dns:/// name for round_robin."""

    def _call(self, method, request, timeout):
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise PredictError.from_rpc_error(error) from None

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str = "",
        outputs: Iterable[str] = (),
        request_id: str = "",
        parameters: Mapping | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        request = build_request(
            model, inputs, version=version, outputs=outputs, request_id=request_id, parameters=parameters
        )
        return decode_outputs(self._call(self._stub.Predict, request, timeout))

    def predict_stream(
        self, requests: Iterable[pb.PredictRequest | pb.PredictStreamRequest], *, timeout: float | None = None
    ) -> Iterator[dict[str, np.ndarray] | PredictError]:
        """Yield each reply's outputs in order; a failed request yields its PredictError in place."""
        try:
            for response in self._stub.PredictStream(map(stream_request, requests), timeout=timeout):
                yield stream_result(response)
        except grpc.RpcError as error:
            raise PredictError.from_rpc_error(error) from None

    def list_models(self, timeout: float | None = None) -> list[pb.ModelInfo]:
        return list(self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout).models)

    def get_model(self, model: str, version: str = "", timeout: float | None = None) -> pb.ModelInfo:
        return self._call(self._stub.GetModel, pb.GetModelRequest(model=model, version=version), timeout).model

    def server_info(self, timeout: float | None = None) -> pb.GetServerInfoResponse:
        return self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), timeout)
