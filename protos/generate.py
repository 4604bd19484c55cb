"""Regenerate every *_pb2.py / *_pb2_grpc.py / *_pb2.pyi from the .proto files under protos/.

    python -m protos.generate             # write the generated modules next to their sources
    python -m protos.generate --check     # exit 1 if regenerating would change anything
    python -m protos.generate --baseline  # also re-record the buf breaking-change baseline

protos/ is the include path (`protoc -I protos`), as it is for every other language, so
imports and descriptor file names read "switchyard/v1/predict.proto". protoc's Python
output then imports its siblings as `switchyard.v1`; this command rewrites those imports
(and the module names the classes report) to `protos.switchyard.v1`, so the generated
modules live inside the `protos` import package.

--baseline writes protos/api-baseline.binpb, the buf image `buf breaking` compares
against. Re-record it only at a release or a deliberate pre-1.0 break (docs/protocols.md).
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = "protos"
BASELINE = PROTOS / "api-baseline.binpb"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def _top_packages() -> list[str]:
    """The first folder of every proto path: the names protoc's imports start with."""
    return sorted({p.relative_to(PROTOS).parts[0] for p in proto_files()})


def _into_package(text: str, top: list[str]) -> str:
    """protoc writes `from switchyard.v1 import x_pb2`; here that module is protos.switchyard.v1."""
    names = "|".join(map(re.escape, top))
    text = re.sub(rf"^from ({names})([. ])", rf"from {PACKAGE}.\1\2", text, flags=re.MULTILINE)
    return re.sub(rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')({names})\.", rf"\g<1>{PACKAGE}.\2.", text)


def generate(out_dir: Path) -> list[Path]:
    """Compile all protos into out_dir (mirroring the tree); returns the generated files."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(p.relative_to(PROTOS)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = sorted(p for p in out_dir.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))
    top = _top_packages()
    for path in generated:
        path.write_text(_into_package(path.read_text(), top))
    return generated


def record_baseline(target: Path = BASELINE) -> None:
    """buf image of the current protos: what `buf breaking` compares later changes against."""
    buf = subprocess.run(
        ["bash", str(ROOT / "scripts" / "get_buf.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    # Without source info the image holds only what can break (no comments, no line numbers).
    subprocess.run([buf, "build", str(PROTOS), "--exclude-source-info", "-o", str(target)], check=True)
    print(f"recorded {target.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    mode.add_argument("--baseline", action="store_true", help="also re-record protos/api-baseline.binpb (needs buf)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fresh = {p.relative_to(out): p for p in generate(out)}
        committed = {p.relative_to(PROTOS): p for p in PROTOS.rglob("*") if p.name.endswith(GENERATED_SUFFIXES)}
        stale = sorted(
            rel
            for rel in set(fresh) | set(committed)
            if rel not in fresh or rel not in committed or not filecmp.cmp(fresh[rel], committed[rel], shallow=False)
        )
        if args.check:
            if stale:
                print("generated code is stale; run `python -m protos.generate`:", *map(str, stale), sep="\n  ")
                return 1
            print(f"generated code is up to date ({len(fresh)} files)")
            return 0
        for rel in stale:
            if rel in fresh:
                shutil.copyfile(fresh[rel], PROTOS / rel)
            else:
                (PROTOS / rel).unlink()
        for rel in fresh:
            for parent in rel.parents:
                if parent != Path("."):
                    (PROTOS / parent / "__init__.py").touch(exist_ok=True)
        print(f"wrote {len(stale)} changed file(s) of {len(fresh)}")
    if args.baseline:
        record_baseline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
