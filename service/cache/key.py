"""The exact cache key: BLAKE2b-256 over the model version and the canonical request.

Two requests share a key only when every byte that can change the answer is the same: the
model's artifact and config (model_digest, computed once per loaded version, so a new
artifact under the same version number never meets old answers), the input names, dtypes,
shapes and raw bytes, the requested outputs, and every parameter except those that only
steer scheduling.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from protos import codec

# Parameters that decide when or how a request runs, never what it returns.
SCHEDULING_PARAMETERS = frozenset({"priority", "timeout", "unordered", "sequence_id", "binary_data_output"})
DIGEST_BYTES = 32


def _field(h: hashlib.blake2b, data: bytes) -> None:
    """Length-prefixed, so no two different sequences of fields hash the same bytes."""
    h.update(struct.pack("<Q", len(data)))
    h.update(data)


def model_digest(folder: Path, config_json: bytes) -> bytes:
    """Every file under the version's folder (relative path and contents) and the model config."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    _field(h, config_json)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    for path in files:
        _field(h, path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            _field(h, hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=DIGEST_BYTES)).digest())
    return h.digest()


def array_payload(array: np.ndarray) -> bytes:
    """Raw bytes of an array as the wire carries them (BYTES elements length-prefixed)."""
    return codec.encode_raw(array)


def request_key(
    model: str,
    version: int,
    digest: bytes,
    kind: str,
    inputs: Mapping[str, np.ndarray],
    outputs: tuple[str, ...],
    parameters: Mapping[str, object],
) -> bytes:
    """kind: which path computes the answer ("tensors" or "image"), since they answer differently."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    _field(h, model.encode())
    _field(h, struct.pack("<q", version))
    _field(h, digest)
    _field(h, kind.encode())
    _field(h, struct.pack("<Q", len(inputs)))
    for name in sorted(inputs):
        array = inputs[name]
        _field(h, name.encode())
        _field(h, array.dtype.str.encode())
        _field(h, struct.pack(f"<{array.ndim + 1}q", array.ndim, *array.shape))
        _field(h, array_payload(array))
    _field(h, "\0".join(sorted(outputs)).encode())
    for name in sorted(parameters):
        if name not in SCHEDULING_PARAMETERS:
            value = parameters[name]
            _field(h, name.encode())
            _field(h, f"{type(value).__name__}:{value!r}".encode())
    return h.digest()
