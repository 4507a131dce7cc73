"""What a new user reads first: ``make help`` (targets and variables with defaults) and ``ppslim --help``."""
from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO, run_cli

VARIABLES = {"CONFIG": "configs/digits/train.yaml", "O": "", "RUNTIME": "auto", "GPUS": "", "STAGE": "qat",
             "NNODES": "2", "GPUS_PER_NODE": "1", "K8S_IMAGE": "", "K8S_CPU": "4", "K8S_MEMORY": "16Gi",
             "K8S_SHM": "4Gi"}


def test_make_help_lists_every_variable_with_its_default():
    out = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    assert "demo" in out and "k8s-render" in out
    for name, default in VARIABLES.items():
        line = re.search(rf"^  {name} +\[([^\]]*)\] +(\S.*)$", out, re.M)
        assert line, f"{name} missing from make help:\n{out}"
        assert line.group(1) == default and line.group(2).strip(), line.group(0)
    ptq = subprocess.run(["make", "help", "STAGE=ptq"], cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"^  NNODES +\[1\]", ptq, re.M) and "configs/digits/ptq.yaml" in ptq


def test_ppslim_help_speaks_to_users():
    top = run_cli("--help", timeout=60)
    assert top.returncode == 0
    assert top.stdout.splitlines()[2].startswith("Compress PaddlePaddle image classifiers")
    assert "stage.run" not in top.stdout and "``" not in top.stdout
    for command in ("train", "eval", "export", "qat", "prune", "ptq", "lite", "infer", "pipeline", "bench",
                    "k8s", "container", "data"):
        sub = run_cli(command, "--help", timeout=60)
        assert sub.returncode == 0, sub.stderr
        description = sub.stdout.split("\n\n")[1]
        assert len(description) > 30 and "``" not in description, (command, description)
    ptq = run_cli("ptq", "--help", timeout=60).stdout
    for key in ("Slim.ptq.calib_dir", "Slim.ptq.output_dir", "quant_post_static_model", "Global.overwrite=true"):
        assert key in ptq.replace("\n", " ").replace("  ", " "), key
