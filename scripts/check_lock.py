#!/usr/bin/env python3
"""Fail when a lock in requirements/ is stale against pyproject.toml (CI runs this in the venv).

Two checks per lock, both on ``name==version`` pins (hashes are left out: an old release can gain
wheel files later, which would flag a lock that is still correct):

1. Offline: every requirement pyproject.toml declares (dependencies + the extras named in the lock's
   header command) is pinned in the lock at a version its specifier allows.
2. Re-resolution: the lock's own header command (``uv pip compile ...``) runs again into a copy of
   the lock. uv keeps the pins of an existing output file as preferences, as pip-compile does, so new
   upstream releases change nothing, while a changed pyproject.toml (a new dependency, a moved
   specifier) changes the pins. Any difference means ``make lock`` was not re-run.

Usage: check_lock.py [--offline] [LOCK ...]   (default: requirements/*.lock.txt)
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import tomli
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(text: str) -> dict[str, str]:
    return {canonicalize_name(m.group(1)): m.group(2) for m in map(PIN.match, text.splitlines()) if m}


def header_command(text: str, lock: str) -> list[str]:
    for line in text.splitlines()[:5]:
        if "uv pip compile" in line:
            return shlex.split(line.lstrip("# ").strip())
    raise SystemExit(f"{lock}: no `uv pip compile` command in the header; regenerate it with `make lock`")


def declared(pyproject: dict, extras: list[str]) -> list[Requirement]:
    project = pyproject["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise SystemExit(f"lock header names extra {extra!r}, which pyproject.toml no longer has")
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def check_declared(lock: str, text: str, pyproject: dict) -> list[str]:
    cmd = header_command(text, lock)
    extras = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--extra"]
    locked = pins(text)
    problems = []
    for req in declared(pyproject, extras):
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req} is declared but not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req} is declared but the lock pins {req.name}=={version}")
    return problems


def check_resolution(lock: str, text: str, uv: str) -> list[str]:
    cmd = header_command(text, lock)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, os.path.basename(lock))
        shutil.copyfile(lock, out)
        args = cmd[3:]  # after "uv pip compile"
        args[args.index("-o") + 1] = out
        run = subprocess.run([uv, "pip", "compile", *args, "--quiet"], capture_output=True, text=True)
        if run.returncode != 0:
            return [f"`uv pip compile` failed: {run.stderr.strip()[-400:]}"]
        with open(out, encoding="utf-8") as f:
            fresh = pins(f.read())
    old = pins(text)
    return [f"{name}: lock has {old.get(name, '-')}, pyproject.toml resolves to {fresh.get(name, '-')}"
            for name in sorted(set(old) | set(fresh)) if old.get(name) != fresh.get(name)]


def main(argv: list[str]) -> int:
    offline = "--offline" in argv
    locks = [a for a in argv if a != "--offline"] or sorted(glob.glob("requirements/*.lock.txt"))
    with open("pyproject.toml", "rb") as f:
        pyproject = tomli.load(f)
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv") or "uv"
    failed = False
    for lock in locks:
        with open(lock, encoding="utf-8") as f:
            text = f.read()
        problems = check_declared(lock, text, pyproject)
        if not problems and not offline:
            problems = check_resolution(lock, text, uv)
        for problem in problems:
            print(f"{lock}: stale: {problem}", file=sys.stderr)
        if problems:
            failed = True
        else:
            print(f"{lock}: up to date with pyproject.toml ({len(pins(text))} pins"
                  + (", re-resolved)" if not offline else ", offline check)"))
    if failed:
        print("run `make lock` and commit the locks", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
