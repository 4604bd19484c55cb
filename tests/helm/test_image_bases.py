"""The images' bases: each pinnable by digest at release (scripts/pin_bases.sh), and no
runtime stage built on a development image or carrying a compiler."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

from tests.helm.chart import REPO
from tests.helm.test_dockerfiles import DOCKER, FLAVORS, final_stage, parse, stage_chain

PIN = REPO / "scripts" / "pin_bases.sh"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|hipcc|rocm-llvm|cmake|[a-z0-9.+-]+-dev(el)?)\b")


def global_args(flavor: str) -> dict[str, str]:
    """ARGs declared before the first FROM (the only ones a FROM line can use), with defaults."""
    found = {}
    for line in (DOCKER / f"Dockerfile.{flavor}").read_text().splitlines():
        if line.startswith("FROM "):
            break
        if m := re.fullmatch(r"ARG (\w+)=(.*)", line.strip()):
            found[m.group(1)] = m.group(2).strip('"')
    return found


def external_froms(flavor: str) -> list[str]:
    instructions = parse(DOCKER / f"Dockerfile.{flavor}")
    stages = {i.stage for i in instructions}
    return [i.args.split()[0] for i in instructions if i.keyword == "FROM" and i.args.split()[0] not in stages]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_base_image_takes_a_digest(flavor):
    args = global_args(flavor)
    froms = external_froms(flavor)
    assert froms
    for base in froms:
        m = re.fullmatch(r"\$\{(\w+)_IMAGE\}\$\{(\w+)_DIGEST\}", base)
        assert m and m.group(1) == m.group(2), f"{flavor}: FROM {base} is not ${{X_IMAGE}}${{X_DIGEST}}"
        image, digest = args[f"{m.group(1)}_IMAGE"], args[f"{m.group(1)}_DIGEST"]
        assert ":" in image and "@" not in image, f"{flavor}: {image} names no tag (the digest goes in *_DIGEST)"
        # Empty until a release resolves it: a digest is never written down unverified.
        assert digest == "" or DIGEST.fullmatch(digest), f"{flavor}: {m.group(1)}_DIGEST={digest!r}"


def fake_resolver(tmp_path, output: str | None = None):
    script = tmp_path / "resolve"
    body = f"echo '{output}'" if output else "printf 'sha256:%s\\n' \"$(printf '%s' \"$1\" | sha256sum | cut -c1-64)\""
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PIN_RESOLVER": str(script)}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_pin_script_gives_every_base_its_digest(flavor, tmp_path):
    out = subprocess.run(
        ["bash", str(PIN), flavor], env=fake_resolver(tmp_path), capture_output=True, text=True, check=True
    ).stdout.split()
    pinned = dict(arg.split("=", 1) for arg in out if arg != "--build-arg")
    expected = {f"{name[: -len('_IMAGE')]}_DIGEST" for name in global_args(flavor) if name.endswith("_IMAGE")}
    assert set(pinned) == expected
    assert all(DIGEST.fullmatch(value) for value in pinned.values()), pinned


def test_pin_script_refuses_an_answer_that_is_not_a_digest(tmp_path):
    proc = subprocess.run(
        ["bash", str(PIN), "cpu"], env=fake_resolver(tmp_path, "latest"), capture_output=True, text=True
    )
    assert proc.returncode != 0 and "not a digest" in proc.stderr


@pytest.mark.parametrize("flavor", FLAVORS)
def test_runtime_stage_is_no_development_image_and_installs_no_compiler(flavor):
    instructions = parse(DOCKER / f"Dockerfile.{flavor}")
    runtime = final_stage(instructions)[0].stage
    chain = stage_chain(instructions, runtime)
    args = global_args(flavor)
    stages = {i.stage for i in instructions}
    for step in chain:
        if step.keyword == "FROM" and (base := step.args.split()[0]) not in stages:
            image = args[re.fullmatch(r"\$\{(\w+)\}.*", base).group(1)]
            assert not re.search(r"(^|[/:-])dev(el)?([/:-]|$)", image), f"{flavor}: runtime built on {image}"
        for command in step.args.split("&&") if step.keyword == "RUN" else ():
            if "apt-get install" in command:
                assert not COMPILERS.search(command), f"{flavor}: the runtime stage runs {command.strip()}"


def test_amd_runtime_build_fails_if_a_compiler_slipped_in():
    # MIGraphX's package dependencies are ROCm's to change: the build checks what they pulled in.
    chain = final_stage(parse(DOCKER / "Dockerfile.amd"))
    checks = [step.args for step in chain if step.keyword == "RUN" and "command -v" in step.args]
    assert checks and all(tool in checks[0] for tool in ("gcc", "g++", "hipcc"))
