"""Print the requirements of pyproject.toml's extras, one per line, self-references expanded.

The images install these first (a layer that changes only with pyproject.toml or the
constraints), then the package itself with --no-deps once the sources are copied.
Usage: python requirements_of.py pyproject.toml nvidia
"""

from __future__ import annotations

import re
import sys
import tomllib


def requirements(project: dict, extras: list[str]) -> list[str]:
    name = project["name"]
    found: list[str] = list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in project["optional-dependencies"][extra]:
            self_ref = re.fullmatch(rf"{re.escape(name)}\[([\w,\s-]+)\]", req.strip())
            if self_ref:
                pending.extend(e.strip() for e in self_ref.group(1).split(","))
            elif req not in found:
                found.append(req)
    return found


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        project = tomllib.load(f)["project"]
    print("\n".join(requirements(project, sys.argv[2:])))
