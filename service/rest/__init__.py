"""KServe v2 REST (Triton's HTTP form) beside gRPC: same process, models, limits, auth and metrics.

A thin adapter: JSON and Triton's binary tensors are turned into the Open Inference Protocol's
messages and handed to the same servicers the gRPC port serves (service/oip/servicer.py,
service/predict/servicer.py for images), so decoding, validation, limits, the in-flight
budget, the response cache and the drain gate are the gRPC path's own. docs/protocols.md.
"""
