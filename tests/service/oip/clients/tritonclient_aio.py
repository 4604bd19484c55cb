"""Drive a server with tritonclient.grpc.aio (asyncio API, unary and streaming); print a JSON report."""

from __future__ import annotations

import asyncio

import numpy as np
import tritonclient.grpc.aio as tca
from _common import emit, error_report, parse_args, tensor_report
from tritonclient.utils import InferenceServerException


def add_sub(shape, seed: int) -> tuple[list, dict]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    inputs = [tca.InferInput("INPUT0", list(shape), "FP32"), tca.InferInput("INPUT1", list(shape), "FP32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    return inputs, {"INPUT0": tensor_report(a), "INPUT1": tensor_report(b)}


def outputs_of(result) -> dict:
    return {n: tensor_report(result.as_numpy(n)) for n in ("OUTPUT0", "OUTPUT1")}


async def run(url: str) -> dict:
    client = tca.InferenceServerClient(url=url)
    report: dict = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "model_ready": await client.is_model_ready("simple_fp32"),
        "server_metadata": await client.get_server_metadata(as_json=True),
    }
    inputs, sent = add_sub((4, 16), seed=1)
    result = await client.infer("simple_fp32", inputs, request_id="aio-1")
    report["infer"] = {"sent": sent, "id": result.get_response().id, "outputs": outputs_of(result)}
    concurrent = [add_sub((1, 16), seed=10 + i) for i in range(8)]
    results = await asyncio.gather(
        *(client.infer("simple_fp32", i, request_id=f"c{n}") for n, (i, _) in enumerate(concurrent))
    )
    report["concurrent"] = [
        {"sent": s, "id": r.get_response().id, "outputs": outputs_of(r)}
        for (_, s), r in zip(concurrent, results, strict=True)
    ]
    try:
        await client.infer("simple_fp32", add_sub((1, 15), seed=3)[0])
        report["bad_shape"] = {"status": "OK", "message": ""}
    except InferenceServerException as exc:
        report["bad_shape"] = error_report(exc)

    shapes = [(1, 16), (1, 3), (1, 16)]
    requests = [add_sub(shape, seed=20 + i) for i, shape in enumerate(shapes)]

    async def requests_iterator():
        for i, (inputs, _) in enumerate(requests):
            yield {"model_name": "simple_fp32", "inputs": inputs, "request_id": f"s{i}"}

    events = []
    async for result, error in client.stream_infer(requests_iterator(), stream_timeout=20):
        if error is not None:
            events.append({"error": error.message()})
        else:
            index = int(result.get_response().id[1:])
            events.append({"id": result.get_response().id, "sent": requests[index][1], "outputs": outputs_of(result)})
        if len(events) == len(requests):
            break
    report["stream"] = events
    await client.close()
    return report


def main() -> None:
    args = parse_args(__doc__)
    emit(asyncio.run(run(args.url)))


if __name__ == "__main__":
    main()
