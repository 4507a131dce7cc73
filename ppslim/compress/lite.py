"""Paddle Lite: ``paddle_lite_opt`` conversion and ``.nb`` execution, each in a subprocess.

Lite 2.13rc0 crashes natively on some inputs (``paddle.flatten``'s op in x86 opt) and its x86
INT8 kernels produce chance-level output, so nothing Lite does runs in the ppslim process, and
every ``.nb`` that can run here is compared with the Paddle Inference output before it is kept.
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np

from .. import logs
from ..errors import ArtifactError, PpslimError

HOST_RUNNABLE = ("x86", "host")  # targets whose kernels this machine can execute


def opt_binary() -> str:
    found = shutil.which("paddle_lite_opt", path=os.path.dirname(sys.executable)) or shutil.which("paddle_lite_opt")
    if not found:
        raise PpslimError("paddle_lite_opt not found: install the locked paddlelite==2.13rc0 (make venv)")
    return found


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"crashed with {signal.Signals(-returncode).name}"
    return f"exited with {returncode}"


def _run(cmd: list[str], what: str, timeout: int = 900) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        logs.record_native(f"{what} (timed out)", _text(e.stdout) + _text(e.stderr))
        raise ArtifactError(f"{what} did not finish in {timeout} s") from None
    logs.record_native(f"{what}: {' '.join(cmd)} ({_describe_exit(proc.returncode)})", proc.stdout + proc.stderr)
    return proc


def _text(out) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def convert(model_file: str, params_file: str, target: str, out_prefix: str, program_ops=()) -> str:
    """Write ``out_prefix.nb`` for ``target`` (e.g. ``arm`` or ``opencl,arm``); returns its path."""
    os.makedirs(os.path.dirname(out_prefix), exist_ok=True)
    proc = _run([opt_binary(), f"--model_file={model_file}", f"--param_file={params_file}",
                 f"--optimize_out={out_prefix}", f"--valid_targets={target}", "--optimize_out_type=naive_buffer"],
                f"paddle_lite_opt ({target})")
    nb = out_prefix + ".nb"
    if proc.returncode != 0 or not os.path.isfile(nb):
        last = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()][-1:] or ["no output"]
        hint = ""
        if "flatten_contiguous_range" in program_ops:
            hint = ("; the model uses paddle.flatten (flatten_contiguous_range), which crashes Lite 2.13's opt: "
                    "export it with paddle.reshape instead")
        raise ArtifactError(f"paddle_lite_opt {_describe_exit(proc.returncode)} converting for {target}: "
                            f"{last[0].strip()[:300]}{hint}")
    return nb


def model_ops(model_file: str, params_file: str, target: str) -> dict[str, bool]:
    """Op -> whether ``target`` has a kernel for it, as ``paddle_lite_opt --print_model_ops`` reports."""
    proc = _run([opt_binary(), "--print_model_ops=true", f"--model_file={model_file}", f"--param_file={params_file}",
                 f"--valid_targets={target}"], "paddle_lite_opt --print_model_ops")
    table, in_table = {}, False
    for line in proc.stdout.splitlines():
        if "OP_name" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or line.startswith("Paddle-Lite"):
                break
            table[parts[0]] = "Y" in parts[1:]
    return table


def optimized_ops(nb_path: str) -> dict[str, int]:
    """Op counts of the optimized ``.nb`` graph (``calib`` ops mark fp32<->int8 precision changes)."""
    with tempfile.TemporaryDirectory() as tmp:
        _run([opt_binary(), f"--optimized_nb_model_path={nb_path}", f"--visualization_file_output_path={tmp}"],
             "paddle_lite_opt visualization")
        counts: collections.Counter = collections.Counter()
        for name in os.listdir(tmp):
            if name.endswith(".dot"):
                with open(os.path.join(tmp, name)) as f:
                    # op nodes are filled yellow; tensors are gray records
                    counts.update(re.findall(r'label="([^"]+)" style="filled" fillcolor="yellow"', f.read()))
    return dict(sorted(counts.items()))


def run_nb(nb_path: str, images: np.ndarray) -> np.ndarray:
    """Logits of ``images`` from the ``.nb`` on this host, computed in a separate process."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "images.npy"), os.path.join(tmp, "logits.npy")
        np.save(src, np.ascontiguousarray(images, dtype="float32"))
        proc = _run([sys.executable, "-m", "ppslim.compress.lite_worker", nb_path, src, dst], f"Lite run of {nb_path}")
        if proc.returncode != 0 or not os.path.isfile(dst):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ArtifactError(f"Paddle Lite {_describe_exit(proc.returncode)} running {nb_path}: {tail[0][:300]}")
        return np.load(dst)

