"""Readable runs: real stages in a subprocess print only ppslim's own lines; the rest is in the log.

"ppslim's own" console line (:data:`OWN`): a ``[ppslim LEVEL] `` log line, the stage's result line
(``PtqResult: ...``) or the one ``error: ...`` line of a failure. tqdm bars are off (not a tty).
Third-party evidence: oneDNN's C++ pass prints (``---    squashed``), glog (``program_interpreter.cc``),
Paddle's quantization logger and PaddleSlim's pruning logger.
"""
from __future__ import annotations

import re
import shutil

import pytest

from ppslim import logs
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

OWN = re.compile(r"^(\[ppslim (DEBUG|INFO|WARNING|ERROR)\] |[A-Z]\w*Result: |error: )")
PTQ = ["Slim.ptq.algo=hist", "Slim.ptq.batch_size=16", "Slim.ptq.batch_nums=2"]
PRUNE = ["Slim.prune.name=fpgm", "Slim.prune.pruned_ratio=0.3", "Slim.prune.finetune_epochs=1", "Global.epochs=1"]
ONEDNN_PASS = "---    squashed"  # printed from C++ by the oneDNN INT8 passes of every INT8 predictor
PRUNE_LINE = "Pruning variable ["  # PaddleSlim's pruner logger, one per pruned weight


def console_lines(proc) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def foreign(proc) -> list[str]:
    return [line for line in console_lines(proc) if not OWN.match(line)]


@pytest.fixture
def model_copy(trained_model, tmp_path) -> str:
    """PTQ writes into its source folder: quantize a copy of the session's model."""
    return shutil.copytree(trained_model.inference_dir, tmp_path / "fp32")


def ptq_args(make_overrides, workdir, model_dir, *extra) -> list[str]:
    return ["ptq", "-c", "configs/digits/ptq.yaml", "-o",
            *make_overrides(workdir, f"Global.inference_model_dir={model_dir}", *PTQ, *extra)]


def test_int8_and_pruning_stages_print_only_ppslim_lines(trained_model, make_overrides, model_copy, tmp_path):
    ptq = run_cli(*ptq_args(make_overrides, tmp_path, model_copy))
    prune = run_cli("prune", "-c", "configs/digits/prune.yaml", "-o",
                    *make_overrides(tmp_path, *trained_model.overrides, *PRUNE))
    for name, proc in (("ptq", ptq), ("prune", prune)):
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not foreign(proc), f"{name}: third-party lines on the console: {foreign(proc)[:5]}"
        log_path = logs.log_file(str(tmp_path / "output"), name)
        assert f"[ppslim INFO] log: {log_path}" in console_lines(proc)
    ptq_log = open(logs.log_file(str(tmp_path / "output"), "ptq")).read()
    prune_log = open(logs.log_file(str(tmp_path / "output"), "prune")).read()
    assert ptq_log.count(ONEDNN_PASS) >= 5, "the INT8 predictor's C++ pass prints are not in the log"
    assert "program_interpreter.cc" in ptq_log  # glog, from the static executor of quant_post_static
    assert "[paddle.static.quantization.post_training_quantization INFO]" in ptq_log
    assert "[ppslim.stages.ptq INFO] PTQ hist on 32 images" in ptq_log  # and ppslim's own lines too
    assert prune_log.count(PRUNE_LINE) == 3 and "will be skipped when parsing graph" in prune_log
    assert "[ppslim.compress.pruning INFO] pruned 3 of 3 conv weights with fpgm" in prune_log


def test_verbose_shows_third_party_and_cpp_lines(make_overrides, model_copy, tmp_path):
    proc = run_cli("-v", *ptq_args(make_overrides, tmp_path, model_copy))
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert console.count(ONEDNN_PASS) >= 5 and "program_interpreter.cc" in console
    assert "[paddle.static.quantization.post_training_quantization INFO]" in console
    assert open(logs.log_file(str(tmp_path / "output"), "ptq")).read().count(ONEDNN_PASS) >= 5


def test_failing_stage_prints_one_error_line_with_the_log(make_overrides, model_copy, tmp_path):
    # A real refusal after native work: the INT8 model cannot match FP32 to a cosine of 0.99999.
    proc = run_cli(*ptq_args(make_overrides, tmp_path, model_copy, "Global.verify_int8_min_cosine=0.99999"))
    log_path = logs.log_file(str(tmp_path / "output"), "ptq")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert not foreign(proc), foreign(proc)[:5]
    errors = [line for line in console_lines(proc) if line.startswith("error: ")]
    assert errors == [console_lines(proc)[-1]]
    assert re.fullmatch(r"error: PTQ \(hist\): outputs disagree with the reference on 64 real images "
                        r"\(cosine 0\.\d+ < 0\.99999\); artifact refused \(log: " + re.escape(log_path) + r"\)",
                        errors[0]), errors[0]
    text = open(log_path).read()
    assert text.count(ONEDNN_PASS) >= 5 and errors[0].split(" (log: ")[0] in text
