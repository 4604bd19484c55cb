"""Measurements behind docs/benchmarks.md, docs/hardware.md and docs/vision.md.

Each module is a command run from the repository root, e.g. `python -m benchmarks.serving`;
they import the server packages and test fixtures (`tests.fixtures`), and need the `cpu`
and `dev` extras (ONNX Runtime, OpenVINO; Pillow for the text scenes).
"""
