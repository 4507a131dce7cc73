#!/usr/bin/env python3
"""Create .venv from a hash-pinned lock (run by `make`, with any python3; needs no packages).

Finds Python 3.10 on PATH or under pyenv, creates the venv, installs the lock with
--require-hashes, then ppslim itself without dependencies. Re-runs only when the lock changes
(the Makefile's stamp rule). Fails with one line naming what to install.
"""
import glob
import os
import shutil
import subprocess
import sys

WANT = (3, 10)


def works(python: str) -> bool:
    try:
        out = subprocess.run([python, "-c", "import sys, venv, ensurepip; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == str(WANT)


def find_python() -> str:
    candidates = [os.environ.get("PYTHON310", ""), shutil.which("python3.10") or ""]
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    try:
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", "3.10*", "bin", "python3.10")), reverse=True)
    candidates += ["/usr/bin/python3.10", "/usr/local/bin/python3.10", "python3"]
    for candidate in filter(None, candidates):
        if works(candidate):
            return candidate
    sys.exit("error: Python 3.10 not found (paddlelite 2.13rc0 has no wheel for newer Pythons); install it "
             "(e.g. `pyenv install 3.10.13` or `apt-get install python3.10 python3.10-venv`) or set PYTHON310=/path")


def main() -> None:
    venv, lock = sys.argv[1], sys.argv[2]
    python = os.path.join(venv, "bin", "python")
    if not (os.path.exists(python) and works(python)):
        shutil.rmtree(venv, ignore_errors=True)
        base = find_python()
        print(f"bootstrap: creating {venv} with {base}", flush=True)
        subprocess.run([base, "-m", "venv", venv], check=True)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print(f"bootstrap: installing {lock} (hash-checked)", flush=True)
    subprocess.run(pip + ["--require-hashes", "--no-deps", "-r", lock], check=True)
    subprocess.run(pip + ["--no-deps", "--no-build-isolation", "-e", "."], check=True)
    subprocess.run([python, "-m", "pip", "check"], check=True)


if __name__ == "__main__":
    main()
