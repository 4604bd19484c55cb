"""tritonclient.grpc over TLS, as a Triton user would configure it, unchanged for Switchyard:
`ssl=True` with the CA, optionally a client certificate and key (mTLS), and the bearer token
as a per-call header. Infers `add` with the sync and the asyncio client; prints a JSON report.

Run by .venv-triton's python (tritonclient cannot share a process with Switchyard's protos).
"""

from __future__ import annotations

import argparse
import asyncio

import numpy as np
import tritonclient.grpc as tc
import tritonclient.grpc.aio as tc_aio
from _common import emit, error_report
from tritonclient.utils import InferenceServerException


def inputs(module) -> list:
    a = module.InferInput("a", [1, 4], "FP32")
    a.set_data_from_numpy(np.ones((1, 4), np.float32))
    b = module.InferInput("b", [1, 4], "FP32")
    b.set_data_from_numpy(np.full((1, 4), 2, np.float32))
    return [a, b]


def tls_kwargs(args: argparse.Namespace) -> dict:
    kwargs = {"ssl": True, "root_certificates": args.ca}
    if args.cert:
        kwargs.update(private_key=args.key, certificate_chain=args.cert)
    return kwargs


def sync_infer(args: argparse.Namespace, headers: dict | None) -> dict:
    client = tc.InferenceServerClient(args.url, **tls_kwargs(args))
    try:
        sums = client.infer("add", inputs(tc), headers=headers).as_numpy("sum")
        return {"sum": sums.ravel().tolist()}
    except InferenceServerException as error:
        return error_report(error)
    finally:
        client.close()


async def aio_infer(args: argparse.Namespace, headers: dict | None) -> dict:
    client = tc_aio.InferenceServerClient(args.url, **tls_kwargs(args))
    try:
        sums = (await client.infer("add", inputs(tc_aio), headers=headers)).as_numpy("sum")
        return {"sum": sums.ravel().tolist()}
    except InferenceServerException as error:
        return error_report(error)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed the server's certificate")
    parser.add_argument("--cert", help="client certificate (PEM file), with --key")
    parser.add_argument("--key")
    parser.add_argument("--token", help="sent as the authorization header of each call")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    emit({"sync": sync_infer(args, headers), "aio": asyncio.run(aio_infer(args, headers))})


if __name__ == "__main__":
    main()
