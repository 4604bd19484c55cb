"""Wait until a gRPC server serves, so a benchmark script can start one in the background.

    switchyard serve --port 8001 &
    python -m benchmarks.wait 127.0.0.1:8001 [--timeout 60]

Watches grpc.health.v1 for the whole server (`switchyard serve` reports SERVING once its
models are loaded); a server without the health service (benchmarks.grpc_floor) counts as
serving once it accepts a connection. Exits 1 with a message when --timeout passes first.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def wait_until_serving(target: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        # Blocks until the port accepts a connection (gRPC retries the connect with backoff).
        grpc.channel_ready_future(channel).result(timeout=timeout)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=max(0.1, deadline - time.monotonic())
        )
        try:
            for reply in watch:
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return
            raise
        finally:
            watch.cancel()
    raise RuntimeError("the health stream ended before the server was SERVING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    args = parser.parse_args()
    try:
        wait_until_serving(args.target, args.timeout)
    except grpc.FutureTimeoutError:
        sys.exit(f"{args.target}: nothing accepted a connection within {args.timeout:g} s")
    except grpc.RpcError as error:
        sys.exit(f"{args.target}: not serving ({error.code().name}: {error.details()})")
    except RuntimeError as error:
        sys.exit(f"{args.target}: {error}")


if __name__ == "__main__":
    main()
