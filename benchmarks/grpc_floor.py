"""The floor under any Python gRPC server here: a grpc.aio Predict servicer that does nothing.

It answers every PredictRequest with a prebuilt 10-float PredictResponse without decoding
tensors or touching a model, so `switchyard bench` against it measures grpc.aio + protobuf
parsing alone. Usage (pin it): taskset -c 0 python benchmarks/grpc_floor.py --port 8201
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
import numpy as np

from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc


class Floor(predict_pb2_grpc.PredictServicer):
    def __init__(self) -> None:
        self.reply = pb.PredictResponse(model="tiny_cnn", version="1")
        self.reply.outputs.add(name="probabilities", datatype="FP32", shape=[1, 10],
                               raw_contents=np.zeros((1, 10), np.float32).tobytes())

    async def Predict(self, request, context):
        return self.reply


async def main(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    predict_pb2_grpc.add_PredictServicer_to_server(Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8201)
    asyncio.run(main(parser.parse_args().port))
