"""Two "nodes" on loopback: the launch path of the Kubernetes pods, run for real on the digits data.

Each rank is :func:`ppslim.k8s.launch_command` (``python -m paddle.distributed.launch --nnodes 2
--master 127.0.0.1:PORT --rank 0|1``) , like two pods; rank 0 serves the
rendezvous on its own address, as pod 0 does with its pod IP. Workers run ``rank_worker.py``: the
ppslim CLI plus a dump of each rank's weights after training, so the ranks can be compared.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ppslim import k8s

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

QAT_CONFIG = str(REPO / "configs" / "digits" / "qat.yaml")
WORKER = str(Path(__file__).with_name("rank_worker.py"))
STEP_TIMEOUT = 30  # PPSLIM_STEP_TIMEOUT: the watchdog bound for a rank stuck on a dead peer
PEER_EXIT_BOUND = 45  # seconds for the survivor to end after its peer is killed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(workdir: Path, stage_args: list[str], run: str = "run1") -> list[subprocess.Popen]:
    """Start ranks 0 and 1 as two launchers (two "pods"); logs go to ``workdir/run``."""
    port = free_port()
    dumps = workdir / "dumps"
    dumps.mkdir(parents=True, exist_ok=True)
    # CUDA_VISIBLE_DEVICES, even empty, makes the launcher pick a GPU setup without the gloo backend.
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(PYTHONPATH=str(REPO), PPSLIM_TEST_DUMP_DIR=str(dumps), PPSLIM_STEP_TIMEOUT=str(STEP_TIMEOUT))
    procs = []
    for rank in (0, 1):
        log_dir = workdir / run / f"rank{rank}"
        argv = k8s.launch_command(rank, 2, f"127.0.0.1:{port}", "127.0.0.1", str(log_dir), None, stage_args,
                                  script=WORKER)
        log_dir.mkdir(parents=True)
        out = open(log_dir.parent / f"launcher{rank}.txt", "w")
        procs.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT))
        out.close()
    return procs


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the launcher starts its worker in a new session)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []
    return [pid] + [d for c in children for d in descendants(c)]


def kill_pod(proc: subprocess.Popen) -> None:
    """SIGKILL a launcher and its workers at once, as when a pod dies."""
    for pid in descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def stop(procs: list[subprocess.Popen]) -> None:
    """Kill whatever is left of these launchers and their workers."""
    for p in procs:
        if p.poll() is None:
            kill_pod(p)


def wait(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(0.1, deadline - time.monotonic())) for p in procs]
    finally:
        stop(procs)


def worker_log(log_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(log_dir.glob("workerlog.*")))


def qat_args(make_overrides, trained_model, workdir: Path, epochs: int, *extra: str) -> list[str]:
    return ["qat", "-c", QAT_CONFIG, "-o", *make_overrides(
        workdir, f"Global.pretrained_model={trained_model.checkpoint}", f"Global.epochs={epochs}",
        "Global.checkpoints=auto", "Global.save_interval=1", *extra)]


def test_two_ranks_train_in_step_and_rank0_exports_int8(trained_model, make_overrides, tmp_path):
    import paddle

    t0 = time.perf_counter()
    # One epoch: rank 1 loads best_model right after fit, so this also checks it waits for rank 0's first save.
    # With distillation: each rank builds its own frozen teacher, and the ranks still train in step.
    distill = "Slim.quant.distill={weight: 1.0, temperature: 4.0}"
    codes = wait(launch(tmp_path, qat_args(make_overrides, trained_model, tmp_path, 1, distill)), timeout=150)
    seconds = time.perf_counter() - t0
    logs = [worker_log(tmp_path / "run1" / f"rank{r}") for r in (0, 1)]
    assert codes == [0, 0], f"launcher exit codes {codes}\n--- rank 0\n{logs[0][-3000:]}\n--- rank 1\n{logs[1][-3000:]}"
    assert all("QatResult" in log for log in logs), "a rank did not reach the end of the stage"
    assert all("distill=weight:1" in log for log in logs), "a rank's result does not record the distillation"
    dumps = [paddle.load(str(tmp_path / "dumps" / f"rank{r}.pdparams")) for r in (0, 1)]
    assert dumps[0].keys() == dumps[1].keys()
    # BatchNorm running statistics are rank-local under data parallelism (as in PaddleClas without
    # SyncBN); everything else (weights, QAT scales) must be identical on every rank.
    rank_local = ("_mean", "_variance")
    compared = [k for k in dumps[0] if not k.endswith(rank_local)]
    differing = [k for k in compared if not np.allclose(dumps[0][k].numpy(), dumps[1][k].numpy(), rtol=0, atol=1e-6)]
    assert not differing, f"{len(differing)} of {len(compared)} tensors differ between ranks: {differing[:8]}"
    assert any(k.endswith("_scale") for k in compared), "no QAT scale state found in the model"
    inference = tmp_path / "inference"
    assert (inference / "inference.pdmodel").is_file() and (inference / "inference.pdiparams").is_file()
    assert "quantize_linear" in (inference / "inference.pdmodel").read_bytes().decode("latin-1")
    print(f"two-node loopback QAT, 1 epoch: {seconds:.1f} s")


def test_killed_rank_ends_the_other_and_rerun_resumes(trained_model, make_overrides, tmp_path):
    args = qat_args(make_overrides, trained_model, tmp_path, epochs=4)
    latest = tmp_path / "output" / "DigitsNet" / "latest.pdstates"
    procs = launch(tmp_path, args)
    try:
        deadline = time.monotonic() + 120
        while not latest.is_file() and time.monotonic() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.2)
        assert latest.is_file(), f"no checkpoint after epoch 1\n{worker_log(tmp_path / 'run1' / 'rank0')[-3000:]}"
        kill_pod(procs[1])  # the "pod" of rank 1 dies
        t_kill = time.monotonic()
        code = procs[0].wait(timeout=PEER_EXIT_BOUND)
        ended_after = time.monotonic() - t_kill
    finally:
        stop(procs)
    log0 = worker_log(tmp_path / "run1" / "rank0")
    assert code != 0 and ended_after < PEER_EXIT_BOUND
    # gloo aborts with "TIMEOUT self_rank = 0 pair_rank = 1"; a rank stuck elsewhere gets the
    # step watchdog's "Timeout (0:00:30)!" and a traceback.
    clear_error = r"gloo::\w+Exception|Timeout \(\d+:\d\d:\d\d\)!"
    assert re.search(clear_error, log0), f"no clear error on rank 0:\n{log0[-3000:]}"
    print(f"rank 0 ended {ended_after:.1f} s after rank 1 was killed")

    codes = wait(launch(tmp_path, args, run="run2"), timeout=150)
    log0 = worker_log(tmp_path / "run2" / "rank0")
    assert codes == [0, 0], f"re-run failed {codes}\n{log0[-3000:]}"
    resumed = re.search(r"resumed from \S+latest at epoch (\d+)", log0)
    assert resumed and int(resumed.group(1)) >= 2, f"re-run did not resume from the checkpoint:\n{log0[-3000:]}"
