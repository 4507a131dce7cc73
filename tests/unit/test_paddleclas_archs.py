"""``scripts/paddleclas_archs.py`` counts distinct architectures and reports the ones that do not build."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("paddleclas_archs", REPO / "scripts" / "paddleclas_archs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_counts_members_and_reports_failures(tmp_path, capsys):
    configs = tmp_path / "ppcls" / "configs"
    (configs / "ImageNet" / "A").mkdir(parents=True)
    (configs / "slim").mkdir(parents=True)
    (configs / "ImageNet" / "A" / "ok.yaml").write_text("Global: {device: gpu}\nArch: {name: PPLCNet_x0_25, "
                                                        "class_num: 1000, dropout_prob: 0.2}\n")
    (configs / "ImageNet" / "A" / "distill.yaml").write_text(
        "Arch:\n  name: DistillationModel\n  class_num: &c 1000\n  models:\n"
        "    - Teacher: {name: DigitsNet, class_num: *c}\n    - Student: {name: PPLCNet_x0_25, class_num: *c}\n")
    (configs / "slim" / "bad.yaml").write_text("Arch: {name: ResNet18, drop_path_rate: 0.1}\n")
    out = tmp_path / "sweep.json"
    assert load_script().main([str(tmp_path), "--class-num", "3", "--json", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["distinct"] == 4 and report["built"] == 3  # PPLCNet_x0_25, DistillationModel, DigitsNet
    assert list(report["failed"]) == ["ResNet18"] and "Arch.drop_path_rate" in report["failed"]["ResNet18"][1]
    assert "built 3 of 4 distinct architectures" in capsys.readouterr().out
