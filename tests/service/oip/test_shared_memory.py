"""The system shared memory registry: regions over real POSIX shared memory objects in /dev/shm."""

from __future__ import annotations

import gc
import os
import re
from multiprocessing import shared_memory

import numpy as np
import pytest

from protos.errors import ErrorCode, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from protos.limits import Limits
from service.oip.shared_memory import Place, SharedMemoryRegistry, place_of
from service.rpc.budget import InflightBudget


@pytest.fixture
def shm():
    """A 4 KiB POSIX shared memory object, as a client would create it; unlinked afterwards."""
    block = shared_memory.SharedMemory(create=True, size=4096)
    yield block
    block.close()
    block.unlink()


def key_of(block: shared_memory.SharedMemory) -> str:
    return "/" + block.name.lstrip("/")


def code_of(error: pytest.ExceptionInfo) -> ErrorCode:
    return error.value.code


def test_register_status_and_unregister(shm):
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 1024)
    regions.register("out", key_of(shm), 1024, 2048)
    assert {(r.name, r.key, r.offset, r.byte_size) for r in regions.status("")} == {
        ("in", key_of(shm), 0, 1024),
        ("out", key_of(shm), 1024, 2048),
    }
    assert [r.name for r in regions.status("out")] == ["out"]
    regions.unregister("in")
    assert [r.name for r in regions.status("")] == ["out"]
    regions.unregister("never-registered")  # Triton's rule: no error, so clients clean up blindly
    regions.unregister("")
    assert regions.status("") == []
    with pytest.raises(SwitchyardError, match="no shared memory region 'out'") as error:
        regions.status("out")
    assert code_of(error) is ErrorCode.NOT_FOUND


def test_an_input_is_read_into_a_private_copy(shm):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.ndarray((3, 4), np.float32, buffer=shm.buf, offset=64)[:] = values
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 64, 48)
    checked = regions.input("x", "FP32", [3, 4], Place("in", 0, 48))
    array = np.frombuffer(checked.source, np.float32).reshape(checked.dims)
    np.testing.assert_array_equal(array, values)
    assert not array.flags.writeable
    np.ndarray((3, 4), np.float32, buffer=shm.buf, offset=64)[0, 0] = 99.0
    assert array[0, 0] == 0.0  # the model sees the input as it was read, whatever the client writes later


def test_the_copy_is_charged_to_the_request_before_it_is_made(shm):
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 4096)
    budget = InflightBudget(1000)
    with budget.lease() as lease:
        with pytest.raises(SwitchyardError, match="in-flight budget") as error:
            regions.input("x", "UINT8", [4096], Place("in", 0, 4096), lease=lease)
        assert code_of(error) is ErrorCode.RESOURCE_EXHAUSTED
        assert lease.held == 0
    with budget.lease() as lease:
        checked = regions.input("x", "UINT8", [512], Place("in", 0, 512), lease=lease)
        assert lease.held == 512 and checked.nbytes == 0  # reserved once, here, not again for the array


def test_an_output_is_written_at_its_offset(shm):
    regions = SharedMemoryRegistry()
    regions.register("out", key_of(shm), 100, 200)  # not page-aligned: the mapping starts before it
    written = regions.write_output("y", np.array([[1.5, -2.0]], np.float32), Place("out", 8, 8))
    assert written == 8
    np.testing.assert_array_equal(np.frombuffer(shm.buf, np.float32, count=2, offset=108), [1.5, -2.0])


@pytest.mark.parametrize(
    ("place", "shape", "message"),
    [
        (Place("in", 0, 40), [3, 4], "shared_memory_byte_size is 40, expected 48 (12 x FP32 for shape [3, 4])"),
        (Place("in", 32, 48), [3, 4], "shared_memory_offset 32 + shared_memory_byte_size 48 runs past the end"),
        (Place("elsewhere", 0, 48), [3, 4], "no shared memory region 'elsewhere'"),
    ],
)
def test_bad_input_places_are_refused_naming_tensor_and_region(shm, place, shape, message):
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 64)
    with pytest.raises(SwitchyardError, match=re.escape(message)) as error:
        regions.input("x", "FP32", shape, place)
    assert "'x'" in str(error.value)
    expected = ErrorCode.NOT_FOUND if place.region == "elsewhere" else ErrorCode.INVALID_ARGUMENT
    assert code_of(error) is expected


def test_the_tensor_limits_apply_before_the_region_is_read(shm):
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 64)
    with pytest.raises(SwitchyardError, match="above the limit") as error:
        regions.input("x", "FP32", [1 << 20, 1 << 20], Place("in", 0, 64), Limits(max_tensor_elements=1 << 20))
    assert code_of(error) is ErrorCode.RESOURCE_EXHAUSTED


def test_an_output_larger_than_its_place_is_refused(shm):
    regions = SharedMemoryRegistry()
    regions.register("out", key_of(shm), 0, 64)
    with pytest.raises(SwitchyardError, match="16 bytes of results do not fit the 8 bytes") as error:
        regions.write_output("y", np.zeros(4, np.float32), Place("out", 0, 8))
    assert code_of(error) is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("key", "offset", "size", "message", "code"),
    [
        ("/no-such-object-here", 0, 16, "no shared memory object '/no-such-object-here'", ErrorCode.NOT_FOUND),
        ("/../etc/passwd", 0, 16, "is not a POSIX shared memory name", ErrorCode.INVALID_ARGUMENT),
        ("/", 0, 16, "is not a POSIX shared memory name", ErrorCode.INVALID_ARGUMENT),
        (None, 4000, 200, "offset 4000 \\+ byte_size 200 runs past the end of", ErrorCode.INVALID_ARGUMENT),
        (None, 0, 0, "'byte_size' must be positive", ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_bad_registrations_are_refused(shm, key, offset, size, message, code):
    regions = SharedMemoryRegistry()
    with pytest.raises(SwitchyardError, match=message) as error:
        regions.register("r", key if key is not None else key_of(shm), offset, size)
    assert code_of(error) is code
    assert regions.status("") == []


def test_a_name_registers_once(shm):
    regions = SharedMemoryRegistry()
    regions.register("r", key_of(shm), 0, 16)
    with pytest.raises(SwitchyardError, match="'r' is already registered") as error:
        regions.register("r", key_of(shm), 16, 16)
    assert code_of(error) is ErrorCode.ALREADY_EXISTS
    assert [(r.offset, r.byte_size) for r in regions.status("r")] == [(0, 16)]  # the first one stands


def test_the_region_count_and_mapped_bytes_are_bounded(shm):
    regions = SharedMemoryRegistry(max_regions=2, max_bytes=3000)
    regions.register("a", key_of(shm), 0, 1000)
    regions.register("b", key_of(shm), 1000, 1000)
    with pytest.raises(SwitchyardError, match="max_shared_memory_regions") as error:
        regions.register("c", key_of(shm), 2000, 10)
    assert code_of(error) is ErrorCode.RESOURCE_EXHAUSTED
    regions.unregister("b")
    with pytest.raises(SwitchyardError, match="max_shared_memory_bytes") as error:
        regions.register("c", key_of(shm), 1000, 2500)
    assert code_of(error) is ErrorCode.RESOURCE_EXHAUSTED


def test_an_object_that_shrank_is_refused_instead_of_crashing_the_server(shm):
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 4096)
    regions.register("out", key_of(shm), 0, 4096)
    path = f"/dev/shm/{shm.name.lstrip('/')}"
    os.truncate(path, 1024)  # touching the lost pages of a mapping would be SIGBUS
    with pytest.raises(SwitchyardError, match="shrank to 1024 bytes") as error:
        regions.input("x", "UINT8", [4096], Place("in", 0, 4096))
    assert code_of(error) is ErrorCode.FAILED_PRECONDITION
    with pytest.raises(SwitchyardError, match="shrank to 1024 bytes") as error:
        regions.write_output("y", np.zeros(64, np.uint8), Place("out", 2048, 64))
    assert code_of(error) is ErrorCode.FAILED_PRECONDITION
    assert os.path.getsize(path) == 1024  # not grown back by the server


def test_unregistering_while_a_request_holds_its_input_keeps_the_input(shm):
    shm.buf[:4] = bytes([1, 2, 3, 4])
    regions = SharedMemoryRegistry()
    regions.register("in", key_of(shm), 0, 4)
    checked = regions.input("x", "UINT8", [4], Place("in", 0, 4))
    array = np.frombuffer(checked.source, np.uint8)
    del checked
    regions.unregister("in")  # closes the descriptor; the running request's input is its own copy
    gc.collect()
    assert array.tolist() == [1, 2, 3, 4]
    with pytest.raises(SwitchyardError, match="no shared memory region 'in'"):
        regions.input("x", "UINT8", [4], Place("in", 0, 4))


def test_place_of_reads_tritons_parameters():
    tensor = pb.ModelInferRequest.InferInputTensor(name="x")
    assert place_of("input", "x", tensor.parameters) is None
    tensor.parameters["shared_memory_region"].string_param = "in"
    tensor.parameters["shared_memory_byte_size"].int64_param = 48
    assert place_of("input", "x", tensor.parameters) == Place("in", 0, 48)
    tensor.parameters["shared_memory_offset"].int64_param = 16
    assert place_of("input", "x", tensor.parameters) == Place("in", 16, 48)
    del tensor.parameters["shared_memory_byte_size"]
    with pytest.raises(SwitchyardError, match="input 'x': parameter 'shared_memory_byte_size' must be a positive"):
        place_of("input", "x", tensor.parameters)


def test_bytes_tensors_travel_length_prefixed(shm):
    words = [b"switch", b"", b"yard"]
    packed = b"".join(len(w).to_bytes(4, "little") + w for w in words)
    shm.buf[: len(packed)] = packed
    regions = SharedMemoryRegistry()
    regions.register("r", key_of(shm), 0, 1024)
    checked = regions.input("s", "BYTES", [3], Place("r", 0, len(packed)))
    assert isinstance(checked.source, bytes)  # parsed from a private copy the client cannot change meanwhile
    written = regions.write_output("t", np.array(words, dtype=object), Place("r", 512, 64))
    assert bytes(shm.buf[512 : 512 + written]) == packed
