"""The GPU images pin runtime wheels built for their base image's CUDA / ROCm major.

A wheel built for another major installs fine and then fails at the first model load
("libcublasLt.so.13: cannot open shared object file"), so the test reads the NEEDED entries
of the wheel's execution-provider library against the major the Dockerfile's base declares.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helm.chart import REPO

DOCKER = REPO / "docker"
CONSTRAINTS = DOCKER / "constraints"
WHEELS = REPO / ".cache" / "wheels"

# flavor -> (package, Dockerfile ARG naming the base, regex of the major in it, provider library, libraries)
CASES = {
    "nvidia": (
        "onnxruntime-gpu",
        "CUDA_IMAGE",
        r"cuda:(\d+)\.",
        "onnxruntime/capi/libonnxruntime_providers_cuda.so",
        ["libcudart.so.{major}", "libcublasLt.so.{major}"],
    ),
    "amd": (
        "onnxruntime-migraphx",
        "ROCM_IMAGE",
        r":(\d+)\.\d",
        "onnxruntime/capi/libonnxruntime_providers_migraphx.so",
        ["libamdhip64.so.{major}"],
    ),
}


def pins(flavor: str) -> dict[str, str]:
    found = {}
    for line in (CONSTRAINTS / f"{flavor}.txt").read_text().splitlines():
        if m := re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip()):
            found[m.group(1).lower()] = m.group(2)
    return found


def base_major(flavor: str, arg: str, pattern: str) -> int:
    text = (DOCKER / f"Dockerfile.{flavor}").read_text()
    (image,) = re.findall(rf"^ARG {arg}=(\S+)$", text, flags=re.MULTILINE)
    m = re.search(pattern, image)
    assert m, f"no major version in {arg}={image}"
    return int(m.group(1))


def wheel(package: str, version: str) -> Path:
    """The cp311 Linux wheel, downloaded once into .cache/wheels."""
    stem = package.replace("-", "_")
    cached = sorted(WHEELS.glob(f"{stem}-{version}-cp311-*x86_64*.whl"))
    if cached:
        return cached[0]
    WHEELS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11"]
        + [arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_34_x86_64") for arg in ("--platform", tag)]
        + ["-d", str(WHEELS), f"{package}=={version}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    cached = sorted(WHEELS.glob(f"{stem}-{version}-cp311-*x86_64*.whl"))
    if proc.returncode != 0 or not cached:
        pytest.skip(f"could not download {package}=={version}: {proc.stderr.strip()[-300:]}")
    return cached[0]


def needed(library: Path) -> list[str]:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.fail("readelf is not installed (apt-get install binutils)")
    out = subprocess.run([readelf, "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


@pytest.mark.parametrize("flavor", sorted(CASES))
def test_provider_links_the_base_images_major(flavor, tmp_path):
    package, arg, pattern, member, libraries = CASES[flavor]
    version = pins(flavor).get(package)
    assert version, f"docker/constraints/{flavor}.txt does not pin {package}=="
    major = base_major(flavor, arg, pattern)
    with zipfile.ZipFile(wheel(package, version)) as whl:
        library = Path(whl.extract(member, tmp_path))
    libs = needed(library)
    for expected in libraries:
        assert expected.format(major=major) in libs, f"{package} {version} needs {libs}, the base has major {major}"


def test_nvidia_constraints_pin_tensorrt_and_cuda_python_for_the_same_cuda():
    text = (CONSTRAINTS / "nvidia.txt").read_text()
    major = base_major("nvidia", "CUDA_IMAGE", CASES["nvidia"][2])
    assert re.search(r"^tensorrt==10\.", text, flags=re.MULTILINE)
    assert re.search(rf"^cuda-python>={major}\.\d+,<{major + 1}$", text, flags=re.MULTILINE)


@pytest.mark.parametrize("flavor", sorted(CASES))
def test_images_install_dependencies_with_their_constraints_before_the_sources(flavor):
    lines = (DOCKER / f"Dockerfile.{flavor}").read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if f"-c /constraints/{flavor}.txt" in line)
    sources = next(i for i, line in enumerate(lines) if line.startswith("COPY service/"))
    assert install < sources, "a source change would reinstall every dependency"
    assert any("--mount=type=cache,target=/root/.cache/pip" in line for line in lines[:install])
    assert any(line.strip() == "RUN python -m pip install --no-cache-dir --no-deps ." for line in lines[sources:])


def test_nvidia_image_appends_to_the_base_library_path():
    text = (DOCKER / "Dockerfile.nvidia").read_text()
    (value,) = re.findall(r"LD_LIBRARY_PATH=(\S+)", text)
    assert value.startswith("${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH}:}"), value


def test_requirements_of_expands_the_extras_self_references():
    proc = subprocess.run(
        [sys.executable, str(CONSTRAINTS / "requirements_of.py"), str(REPO / "pyproject.toml"), "nvidia"],
        capture_output=True,
        text=True,
        check=True,
    )
    reqs = proc.stdout.splitlines()
    names = {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0] for r in reqs}
    assert {"onnxruntime-gpu", "tensorrt", "cuda-python", "grpcio"} <= names  # grpcio: via switchyard[server]
    assert not any(r.startswith("switchyard") for r in reqs)
