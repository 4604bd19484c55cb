"""The floor under any Python gRPC server here: a grpc.aio Predict servicer that does nothing.

It answers every PredictRequest with a prebuilt 10-float PredictResponse without decoding
tensors or touching a model, so `switchyard bench` against it measures grpc.aio + protobuf
parsing alone. Usage (pin it): taskset -c 0 python -m benchmarks.grpc_floor --port 8201

--then sleep0 adds one `await asyncio.sleep(0)` before replying, --then executor one
`run_in_executor` of a no-op (a thread hop like the runner's), to price those steps.
--then ort runs the tiny CNN itself with ONNX Runtime (1 thread) on the loop: the request's
tensor read with np.frombuffer, the reply built from the output, nothing else: the least a
Python gRPC server can do per tiny-CNN request here. --cpu-scheduling batch puts the process
under SCHED_BATCH first, as `switchyard serve` does by default (service/cpu_scheduling.py).
--sync-threads N serves with grpc's synchronous server and N handler threads instead of grpc.aio
(reply and ort only): the other server API grpcio has.
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import onnxruntime as ort

from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from service.cpu_scheduling import apply_cpu_scheduling
from tests.fixtures.models import tiny_cnn


class Floor(predict_pb2_grpc.PredictServicer):
    def __init__(self, then: str = "reply") -> None:
        self.then = then
        if then == "ort":
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            model = tiny_cnn().SerializeToString()
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.executor = ThreadPoolExecutor(1)
        self.reply = pb.PredictResponse(model="tiny_cnn", version="1")
        self.reply.outputs.add(
            name="probabilities", datatype="FP32", shape=[1, 10], raw_contents=np.zeros((1, 10), np.float32).tobytes()
        )

    async def Predict(self, request, context):
        if self.then == "sleep0":
            await asyncio.sleep(0)
        elif self.then == "executor":
            await asyncio.get_running_loop().run_in_executor(self.executor, int)
        elif self.then == "ort":
            return self._run(request)
        return self.reply

    def _run(self, request: pb.PredictRequest) -> pb.PredictResponse:
        tensor = request.inputs[0]
        array = np.frombuffer(tensor.raw_contents, np.float32).reshape(tuple(tensor.shape))
        (probabilities,) = self.session.run(["probabilities"], {tensor.name: array})
        reply = pb.PredictResponse(model=request.model, version="1")
        reply.outputs.add(
            name="probabilities", datatype="FP32", shape=probabilities.shape, raw_contents=probabilities.tobytes()
        )
        return reply


async def main(port: int, then: str) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    predict_pb2_grpc.add_PredictServicer_to_server(Floor(then), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


class SyncFloor(predict_pb2_grpc.PredictServicer):
    """The same answers from grpc's synchronous server (handlers on its thread pool)."""

    def __init__(self, then: str) -> None:
        self.floor = Floor(then)

    def Predict(self, request, context):
        return self.floor._run(request) if self.floor.then == "ort" else self.floor.reply


def main_sync(port: int, then: str, threads: int) -> None:
    if then not in ("reply", "ort"):
        raise SystemExit("--sync-threads serves --then reply or ort")
    server = grpc.server(ThreadPoolExecutor(threads), options=[("grpc.max_receive_message_length", 64 << 20)])
    predict_pb2_grpc.add_PredictServicer_to_server(SyncFloor(then), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8201)
    parser.add_argument("--then", choices=("reply", "sleep0", "executor", "ort"), default="reply")
    parser.add_argument("--cpu-scheduling", choices=("batch", "normal"), default="normal")
    parser.add_argument("--sync-threads", type=int, default=0, help="grpc's synchronous server with N threads")
    args = parser.parse_args()
    print("cpu scheduling:", apply_cpu_scheduling(args.cpu_scheduling), flush=True)
    if args.sync_threads:
        main_sync(args.port, args.then, args.sync_threads)
    else:
        asyncio.run(main(args.port, args.then))
