"""Real OpenVINO / NNCF / oneDNN BF16 runs on the trained digits model: eval, ptq (engine nncf), infer, refusals."""
from __future__ import annotations

import json
import os

import pytest

from ppslim import artifacts
from ppslim.errors import ConfigError
from ppslim.serve import cpu


def _eval(make_config, trained_model, *extra):
    from ppslim.stages import eval as eval_stage

    return eval_stage.run(make_config(*trained_model.overrides, *extra))


def test_eval_on_openvino_matches_onednn(make_config, trained_model):
    model = f"Global.inference_model_dir={trained_model.inference_dir}"
    onednn = _eval(make_config, trained_model, model, "Global.inference_backend=onednn")
    ov_f32 = _eval(make_config, trained_model, model, "Global.inference_backend=openvino",
                   "Global.openvino_precision=f32")
    assert onednn.backend == "paddle-cpu-onednn" and ov_f32.backend == "openvino-cpu-f32"
    assert onednn.top1 > 0.8 and ov_f32.top1 == pytest.approx(onednn.top1, abs=0.003)  # <= 1 image of 359
    if cpu.features().bf16:
        ov_default = _eval(make_config, trained_model, model, "Global.inference_backend=openvino")
        bf16 = _eval(make_config, trained_model, model, "Global.inference_backend=onednn_bf16")
        assert ov_default.backend == "openvino-cpu-bf16" and bf16.backend == "paddle-cpu-onednn_bf16"
        assert abs(ov_default.top1 - onednn.top1) <= 0.006 and abs(bf16.top1 - onednn.top1) <= 0.006


def test_nncf_ptq_writes_a_verified_openvino_int8_ir(make_config, trained_model, tmp_path):
    import shutil

    from ppslim.stages import infer, ptq

    src = tmp_path / "fp32"
    shutil.copytree(trained_model.inference_dir, src)
    cfg = make_config(*trained_model.overrides, f"Global.inference_model_dir={src}", "Slim.ptq.engine=nncf",
                      "Slim.ptq.batch_size=16", "Slim.ptq.batch_nums=4")
    result = ptq.run(cfg)
    assert result.model_dir == artifacts.nncf_dir(str(src)) and result.algo == "nncf"
    assert result.backend == "openvino-cpu-int8" and result.quant_ops > 0 and result.calib_images == 64
    assert result.agreement.cosine >= 0.95 and result.agreement.top1_agreement >= 0.9
    assert sorted(os.listdir(result.model_dir)) == ["inference.bin", "inference.xml", "result.json",
                                                    "verification_outputs.npz"]
    assert result.size_ratio < 0.5  # int8 weights
    # 7-bit weights everywhere where INT8 dot products sum pairs into 16 bits (no VNNI / AMX), NNCF's default else
    assert result.overflow_fix == ("first_layer" if cpu.features().int8_dot else "enable")
    assert json.load(open(os.path.join(result.model_dir, "result.json")))["overflow_fix"] == result.overflow_fix
    fp32 = _eval(make_config, trained_model, f"Global.inference_model_dir={src}", "Global.inference_backend=onednn")
    int8 = _eval(make_config, trained_model, f"Global.inference_model_dir={result.model_dir}")  # auto: openvino
    assert int8.backend == "openvino-cpu-int8" and int8.top1 >= fp32.top1 - 0.02
    out = infer.run(make_config(*trained_model.overrides, f"Global.inference_model_dir={result.model_dir}"))
    assert out.backend == "openvino-cpu-int8" and out.predictions
    with pytest.raises(ConfigError, match="is an OpenVINO IR: use openvino"):
        _eval(make_config, trained_model, f"Global.inference_model_dir={result.model_dir}",
              "Global.inference_backend=onednn_int8")


def test_nncf_engine_refuses_paddleslim_keys_before_work(make_config, trained_model, tmp_path):
    from ppslim.stages import ptq

    base = [*trained_model.overrides, f"Global.inference_model_dir={trained_model.inference_dir}",
            "Slim.ptq.engine=nncf"]
    with pytest.raises(ConfigError, match=r"Slim.ptq.algo: 'KL' is a PaddleSlim setting"):
        ptq.run(make_config(*base, "Slim.ptq.algo=KL"))
    with pytest.raises(ConfigError, match="Global.inference_backend: 'onednn_int8' cannot run the OpenVINO IR"):
        ptq.run(make_config(*base, "Global.inference_backend=onednn_int8"))
    with pytest.raises(ConfigError, match=r"Slim.ptq.overflow_fix: is NNCF's setting \(engine nncf\)"):
        make_config(*trained_model.overrides, "Slim.ptq.overflow_fix=enable")
    with pytest.raises(ConfigError, match=r"Slim.ptq.overflow_fix: 'always' not in \[auto, enable, first_layer"):
        make_config(*base, "Slim.ptq.overflow_fix=always")
    assert not os.path.exists(artifacts.nncf_dir(trained_model.inference_dir))
