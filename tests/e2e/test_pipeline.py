"""``ppslim pipeline`` (what ``make demo`` runs) end to end on the digits data, with short schedules."""
from __future__ import annotations

import json
import os

import pytest

from ppslim import config
from tests.conftest import REPO, data_overrides, output_overrides


def test_pipeline_writes_one_table_of_every_artifact(tmp_path, digits_dir):
    from ppslim.errors import ArtifactError
    from ppslim.stages import eval as eval_stage
    from ppslim.stages import pipeline, qat

    cfg = config.load(str(REPO / "configs" / "digits" / "pipeline.yaml"), [
        *data_overrides(digits_dir), *output_overrides(tmp_path), "Global.epochs=3",
        "Slim.prune.finetune_epochs=1", "Slim.ptq.batch_nums=2"])
    result = pipeline.run(cfg)
    rows = {row["artifact"].split(" (")[0]: row for row in result.rows}
    assert list(rows) == ["FP32", "PTQ INT8", "QAT INT8", "FPGM 0.3 pruned + fine-tuned", "FPGM pruned + QAT INT8",
                          "Lite x86 FP32 .nb", "Lite arm INT8 .nb"]
    fp32 = rows["FP32"]
    assert fp32["top1"] > 0.7 and fp32["backend"] == "paddle-cpu-onednn"
    for name in ("PTQ INT8", "QAT INT8", "FPGM pruned + QAT INT8"):
        assert rows[name]["backend"] == "paddle-cpu-onednn_int8" and rows[name]["size_ratio"] < 0.30
    assert rows["FPGM 0.3 pruned + fine-tuned"]["flops"] < 0.55 * fp32["flops"]
    assert rows["Lite x86 FP32 .nb"]["top1"] == fp32["top1"]
    assert rows["Lite arm INT8 .nb"]["top1"] is None and "not run" in rows["Lite arm INT8 .nb"]["note"]
    with open(result.json_path) as f:
        saved = json.load(f)
    assert [r["artifact"] for r in saved["rows"]] == [r["artifact"] for r in result.rows]
    with open(result.markdown_path) as f:
        table = f.read()
    assert table.count("\n") == len(result.rows) + 2 and "| FP32 (trained, exported) | paddle-cpu-onednn |" in table
    for row in result.rows:  # every artifact the table names exists
        assert os.path.exists(row["path"]), row
    assert all(len(row["sha256"]) == 64 for row in saved["rows"] if row["top1"] is not None)

    # `make demo` twice: the same settings may replace their own artifacts
    again = pipeline.run(cfg)
    assert [r["artifact"] for r in again.rows] == [r["artifact"] for r in result.rows]
    # `make qat O="Global.epochs=1"` after the demo: refused, the demo's QAT model stays what its summary says
    qat_row = next(r for r in again.rows if r["artifact"].startswith("QAT INT8"))
    with pytest.raises(ArtifactError, match=r"Global.epochs .*-o Global.overwrite=true"):
        qat.run(pipeline.stage_config(cfg, "qat", "Global.epochs=1",
                                      f"Global.pretrained_model={os.path.join(tmp_path, 'output', 'DigitsNet', 'best_model')}"))
    assert eval_stage.run(pipeline.derive(cfg, f"Global.inference_model_dir={qat_row['path']}")).sha256 == \
        qat_row["sha256"]
