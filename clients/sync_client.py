"""Blocking client for switchyard.v1.Predict."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import grpc
import numpy as np

from clients.channel import Metadata, PredictChannel
from clients.errors import PredictError
from clients.request import Outputs, RequestFeed, build_request, decode_outputs, stream_request, stream_result
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = ["SwitchyardClient"]


class SwitchyardClient(PredictChannel):
    """`SwitchyardClient("host:8001")`, or several addresses / a dns:/// name for round_robin."""

    def _call(self, method, request, timeout: float | None, metadata: Metadata | None):
        try:
            return method(request, **self._call_options(timeout, metadata))
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
        metadata: Metadata | None = None,
    ) -> Outputs:
        request = build_request(
            model, inputs, version=version, outputs=outputs, request_id=request_id, parameters=parameters
        )
        return decode_outputs(self._call(self._stub.Predict, request, timeout, metadata))

    def predict_stream(
        self,
        requests: Iterable[pb.PredictRequest | pb.PredictStreamRequest],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Iterator[Outputs | PredictError]:
        """Yield each reply's outputs (with .request_id) in order; a failed request yields its
        PredictError in place. An exception raised by `requests` ends the stream and is raised here."""
        feed = RequestFeed()
        call = self._stub.PredictStream(feed.sync(requests, stream_request), **self._call_options(timeout, metadata))
        feed.bind(call)
        try:
            for response in call:
                yield stream_result(response)
            feed.reraise()
        except grpc.RpcError as error:
            feed.reraise()
            raise PredictError.from_rpc_error(error) from None
        finally:
            call.cancel()

    def list_models(self, timeout: float | None = None, metadata: Metadata | None = None) -> list[pb.ModelInfo]:
        return list(self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout, metadata).models)

    def get_model(
        self, model: str, version: str = "", timeout: float | None = None, metadata: Metadata | None = None
    ) -> pb.ModelInfo:
        request = pb.GetModelRequest(model=model, version=version)
        return self._call(self._stub.GetModel, request, timeout, metadata).model

    def server_info(self, timeout: float | None = None, metadata: Metadata | None = None) -> pb.GetServerInfoResponse:
        return self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), timeout, metadata)
