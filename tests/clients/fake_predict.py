"""A small blocking switchyard.v1.Predict server for client tests: Predict echoes the request id
and adds a + b; PredictStream answers every request and records how its call ended."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np

from protos import codec
from protos.switchyard.v1 import predict_pb2 as pb

SERVICE = "switchyard.v1.Predict"


class FakePredict:
    def __init__(self, address: str = "127.0.0.1:0", options: list[tuple[str, Any]] | None = None) -> None:
        self.stream_ended = threading.Event()
        self.stream_cancelled = False
        self.stream_requests = 0
        self.server = grpc.server(ThreadPoolExecutor(8), options=options or [])
        handlers = {
            "Predict": grpc.unary_unary_rpc_method_handler(
                self._predict, pb.PredictRequest.FromString, pb.PredictResponse.SerializeToString
            ),
            "PredictStream": grpc.stream_stream_rpc_method_handler(
                self._stream, pb.PredictStreamRequest.FromString, pb.PredictStreamResponse.SerializeToString
            ),
        }
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        self.port = self.server.add_insecure_port(address)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0).wait()

    @staticmethod
    def _answer(request: pb.PredictRequest) -> pb.PredictResponse:
        tensors = {t.name: codec.decode_raw(t.name, t.datatype, t.shape, t.raw_contents) for t in request.inputs}
        total = np.asarray(tensors["a"]) + np.asarray(tensors["b"])
        reply = pb.PredictResponse(model=request.model, id=request.id)
        reply.outputs.add(name="sum", datatype="FP32", shape=total.shape, raw_contents=codec.encode_raw(total))
        return reply

    def _predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        return self._answer(request)

    def _stream(self, requests, context: grpc.ServicerContext):
        def ended() -> None:
            self.stream_cancelled = context.code() is None and not context.is_active()
            self.stream_ended.set()

        context.add_callback(ended)
        for item in requests:
            self.stream_requests += 1
            yield pb.PredictStreamResponse(response=self._answer(item.request))
