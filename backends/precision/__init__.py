"""Reduced-precision serving: calibration data, quantized artifacts, their cache and the accuracy gate.

docs/precision.md explains the policy; service/repository/loader.py drives it per model.
"""
