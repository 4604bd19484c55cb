"""Regenerate every *_pb2.py / *_pb2_grpc.py / *_pb2.pyi from the .proto files under protos/.

    python -m protos.generate          # write the generated modules next to their sources
    python -m protos.generate --check  # exit 1 if regenerating would change anything

Protos are compiled with the repository root as include path, so generated modules
import each other as `protos.<package path>` and the import packages stay self-contained.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Compile all protos into out_dir (mirroring the tree); returns the generated files."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(p.relative_to(ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in out_dir.rglob("*") if p.name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fresh = {p.relative_to(out): p for p in generate(out)}
        committed = {
            p.relative_to(ROOT): p
            for p in PROTOS.rglob("*")
            if p.name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi"))
        }
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
                shutil.copyfile(fresh[rel], ROOT / rel)
            else:
                (ROOT / rel).unlink()
        for rel in fresh:
            for parent in rel.parents:
                if parent != Path("."):
                    (ROOT / parent / "__init__.py").touch(exist_ok=True)
        print(f"wrote {len(stale)} changed file(s) of {len(fresh)}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
