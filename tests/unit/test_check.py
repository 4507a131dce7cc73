"""``ppslim check``: many configs in one process, the plan of each, one line per refused config."""
from __future__ import annotations

import json

from tests.conftest import DIGITS_CONFIG, REPO, data_overrides, run_cli


def test_check_prints_plan_for_good_configs_and_one_line_for_a_bad_one(tmp_path, digits_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"_BASE_: {DIGITS_CONFIG}\nGlobal:\n  epoch: 3\n")
    overrides = [f"-o={o}" for o in data_overrides(digits_dir)]
    proc = run_cli("check", "-c", str(DIGITS_CONFIG), "-c", str(REPO / "configs/digits/qat.yaml"),
                   "-c", str(bad), *overrides)
    assert proc.returncode == 2, proc.stderr
    out = proc.stdout
    assert f"{bad}: refused: Global.epoch: unknown key (did you mean epochs?)" in out
    assert "stage    train\n" in out
    assert "stage    qat (the config has Slim.quant" in out
    assert "DigitsNet, 24,570 params, 0.003 GFLOPs at 3x32x32" in out
    assert "Train 1,438 images, Eval 359 images" in out
    assert out.strip().endswith("checked 3 config(s): 2 ok, 1 refused, 0 crashed")


def test_check_exit_0_and_json_when_all_pass(digits_dir):
    overrides = [f"-o={o}" for o in data_overrides(digits_dir)]
    proc = run_cli("check", "-c", str(REPO / "configs/digits/prune.yaml"), "--no-network", "--json", *overrides)
    assert proc.returncode == 0, proc.stderr
    (check,) = json.loads(proc.stdout)["checks"]
    assert check["status"] == "ok" and check["stage"] == "prune" and check["params"] is None
    assert check["data"] == {"Train": 1438, "Eval": 359}


def test_check_reports_missing_data_without_refusing(tmp_path):
    proc = run_cli("check", "-c", str(DIGITS_CONFIG), "--no-network",
                   f"-o=DataLoader.Train.dataset.image_root={tmp_path}/nowhere")
    assert proc.returncode == 0, proc.stderr
    assert "Train: not on this machine (image folder not found:" in proc.stdout


def test_train_on_a_config_with_both_slim_methods_is_refused_in_one_line():
    proc = run_cli("train", "-c", str(REPO / "configs/digits/pipeline.yaml"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Slim: has both quant and prune: run `ppslim prune")


def test_check_builds_paddleclas_networks_and_keeps_their_noise_in_the_log(tmp_path):
    """A PaddleClas backbone prints its own logger lines and paddle warnings; check's console shows ppslim's."""
    proc = run_cli("check", "-c", str(DIGITS_CONFIG), "-o", "Arch.name=PPLCNet_x0_25",
                   f"Global.output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "network  PPLCNet_x0_25, " in proc.stdout
    console = (proc.stdout + proc.stderr).splitlines()
    assert all(not line.startswith("[20") and "Warning" not in line for line in console), console
