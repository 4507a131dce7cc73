"""Serving backends (ppslim.serve): resolution and refusals on real exported models, OpenVINO runs, auto's pick."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ppslim import config
from ppslim.config import Device, InferenceBackend, OpenVinoPrecision
from ppslim.errors import ConfigError
from ppslim.serve import backends, cpu, pick

from tests.conftest import DIGITS_CONFIG

NO_BF16 = frozenset({"avx512f", "avx512_vnni"})          # a Cascade Lake-like CPU: VNNI, no BF16
AMX = frozenset({"avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"})


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits_dir):
    """A random-init DigitsNet exported (FP32) and PaddleSlim-quantized (INT8) through the real stages."""
    from ppslim.stages import bench, export, ptq
    from ppslim.stages.pipeline import derive
    from tests.conftest import data_overrides, output_overrides

    work = tmp_path_factory.mktemp("serve")
    cfg = config.load(str(DIGITS_CONFIG), [*data_overrides(digits_dir), *output_overrides(work),
                                           "Global.verify_images=16", "Global.verify_int8_min_top1_agreement=0.0",
                                           "Slim.ptq.algo=avg", "Slim.ptq.batch_size=16", "Slim.ptq.batch_nums=2"])
    prefix, _ = bench.random_checkpoint(cfg)
    fp32 = export.run(derive(cfg, f"Global.pretrained_model={prefix}"))
    int8 = ptq.run(derive(cfg, f"Global.inference_model_dir={fp32.model_dir}"))
    return {"cfg": cfg, "fp32": os.path.join(fp32.model_dir, "inference.pdmodel"),
            "int8": os.path.join(int8.model_dir, "inference.pdmodel")}


def test_cpu_features_from_flags():
    assert cpu.features(NO_BF16) == cpu.CpuFeatures(avx512_vnni=True, amx=False, avx512_bf16=False)
    assert not cpu.features(NO_BF16).bf16 and cpu.features(AMX).bf16
    assert cpu.features({"avx512_bf16"}).bf16  # Cooper Lake: BF16 without AMX


def test_bf16_refused_without_the_cpu_flag(models):
    with pytest.raises(ConfigError, match=r"onednn_bf16 needs a CPU with avx512_bf16 or AMX") as e:
        backends.resolve(InferenceBackend.ONEDNN_BF16, models["fp32"], flags=NO_BF16)
    assert e.value.key_path == "Global.inference_backend" and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="bf16 needs") as e:
        backends.resolve(InferenceBackend.OPENVINO, models["fp32"], openvino_precision=OpenVinoPrecision.BF16,
                         flags=NO_BF16)
    assert e.value.key_path == "Global.openvino_precision"
    assert backends.resolve(InferenceBackend.ONEDNN_BF16, models["fp32"], flags=AMX).name == "paddle-cpu-onednn_bf16"
    # OpenVINO's default precision follows the CPU: bf16 with AMX, f32 without
    assert backends.resolve(InferenceBackend.OPENVINO, models["fp32"], flags=AMX).name == "openvino-cpu-bf16"
    assert backends.resolve(InferenceBackend.OPENVINO, models["fp32"], flags=NO_BF16).name == "openvino-cpu-f32"
    names = [s.name for s in backends.candidates(models["fp32"], flags=NO_BF16)]
    assert names == ["paddle-cpu-onednn", "openvino-cpu-f32", "openvino-cpu-f32-2streams", "openvino-cpu-f32-dynbatch"]


def test_openvino_refuses_a_paddleslim_int8_program(models):
    with pytest.raises(ConfigError, match="openvino cannot run a PaddleSlim INT8 program.*Slim.ptq.engine=nncf"):
        backends.resolve(InferenceBackend.OPENVINO, models["int8"], flags=AMX)
    with pytest.raises(ConfigError, match="onednn_bf16 runs FP32 programs"):
        backends.resolve(InferenceBackend.ONEDNN_BF16, models["int8"], flags=AMX)
    assert [s.name for s in backends.candidates(models["int8"], flags=AMX)] == ["paddle-cpu-onednn_int8"]
    with pytest.raises(ConfigError, match="runs on CPU only"):
        backends.resolve(InferenceBackend.OPENVINO, models["fp32"], Device.GPU)


def test_openvino_predictor_matches_paddle_and_compiles_per_shape(models):
    params = models["fp32"].replace(".pdmodel", ".pdiparams")
    ref = backends.create_predictor(models["fp32"], params,
                                    backends.resolve(InferenceBackend.ONEDNN, models["fp32"]), threads=1)
    serving = backends.resolve(InferenceBackend.OPENVINO, models["fp32"], openvino_precision=OpenVinoPrecision.F32)
    ov = backends.create_predictor(models["fp32"], params, serving, threads=1)
    assert ov.backend == "openvino-cpu-f32"
    x = np.random.RandomState(0).rand(3, 3, 32, 32).astype("float32")
    np.testing.assert_allclose(ov(x), ref(x), rtol=1e-3, atol=1e-4)
    ov(x[:1])
    assert set(ov.requests) == {(3, 3, 32, 32), (1, 3, 32, 32)}  # one static compile per input shape


def test_choose_minimises_geometric_mean_over_batches():
    lat = {"1": {"a": 10.0, "b": 9.0, "c": 30.0}, "16": {"a": 100.0, "b": 200.0, "c": 90.0}}
    fastest, chosen = pick.choose(lat)
    assert fastest == {"1": "b", "16": "c"}
    assert chosen == "a"  # 1.11 x 1.11 beats b (1.0 x 2.22) and c (3.33 x 1.0)


def test_auto_serves_the_recorded_pick_on_the_same_cpu_only(models, tmp_path):
    import shutil

    model_dir = tmp_path / "m"
    shutil.copytree(os.path.dirname(models["fp32"]), model_dir)
    model_file = str(model_dir / "inference.pdmodel")
    assert backends.resolve(InferenceBackend.AUTO, model_file, flags=AMX).name == "paddle-cpu-onednn"  # nothing yet
    ov = backends.resolve(InferenceBackend.OPENVINO, model_file, openvino_precision=OpenVinoPrecision.F32, flags=AMX)
    onednn = backends.resolve(InferenceBackend.ONEDNN, model_file, flags=AMX)
    entry = pick.record(str(model_dir), {ov.name: ov.as_dict(), onednn.name: onednn.as_dict()},
                        {"1": {ov.name: 5.0, onednn.name: 9.0}, "16": {ov.name: 50.0, onednn.name: 60.0}},
                        cpu.features(AMX))
    assert entry["pick"]["name"] == "openvino-cpu-f32"
    with open(model_dir / "result.json", encoding="utf-8") as f:
        data = json.load(f)
    assert data["agreement"] and data["serving"]["fastest"]["1"]["name"] == "openvino-cpu-f32"  # other keys kept
    assert backends.resolve(InferenceBackend.AUTO, model_file, flags=AMX).name == "openvino-cpu-f32"
    # measured on a CPU with other features: today's rule, not a pick that may not hold there
    assert backends.resolve(InferenceBackend.AUTO, model_file, flags=NO_BF16).name == "paddle-cpu-onednn"
    # an explicit backend always wins over the pick
    assert backends.resolve(InferenceBackend.ONEDNN, model_file, flags=AMX).name == "paddle-cpu-onednn"


def test_serving_config_keys():
    cfg = config.load(str(DIGITS_CONFIG), ["Global.inference_backend=openvino", "Global.openvino_precision=f32"])
    assert cfg.Global.inference_backend == InferenceBackend.OPENVINO
    assert cfg.Global.openvino_precision == OpenVinoPrecision.F32
    with pytest.raises(ConfigError, match="Global.openvino_precision"):
        config.load(str(DIGITS_CONFIG), ["Global.openvino_precision=fp8"])
    with pytest.raises(ConfigError, match="Slim.ptq.engine"):
        config.load(str(DIGITS_CONFIG), ["Slim.ptq={engine: tensorrt}"])


def test_openvino_streams_split_a_batch(models):
    params = models["fp32"].replace(".pdmodel", ".pdiparams")
    one = backends.create_predictor(models["fp32"], params, backends.resolve(
        InferenceBackend.OPENVINO, models["fp32"], openvino_precision=OpenVinoPrecision.F32), threads=2)
    serving = backends.resolve(InferenceBackend.OPENVINO, models["fp32"], openvino_precision=OpenVinoPrecision.F32,
                               streams=2)
    two = backends.create_predictor(models["fp32"], params, serving, threads=2)
    assert serving.name == "openvino-cpu-f32-2streams" and serving.as_dict()["streams"] == 2
    x = np.random.RandomState(1).rand(5, 3, 32, 32).astype("float32")
    np.testing.assert_allclose(two(x), one(x), rtol=1e-4, atol=1e-5)  # parts of 3 and 2, in order
    assert set(two.requests) == {(3, 3, 32, 32), (2, 3, 32, 32)}
    with pytest.raises(ConfigError, match="Global.openvino_streams: 2 streams apply to the openvino backend only"):
        backends.resolve(InferenceBackend.ONEDNN, models["fp32"], streams=2)


def test_openvino_dynamic_batch_compiles_once_per_image_size(models):
    params = models["fp32"].replace(".pdmodel", ".pdiparams")
    serving = backends.resolve(InferenceBackend.OPENVINO, models["fp32"], openvino_precision=OpenVinoPrecision.F32,
                               static_batch=False)
    dyn = backends.create_predictor(models["fp32"], params, serving, threads=1)
    x = np.random.RandomState(2).rand(4, 3, 32, 32).astype("float32")
    np.testing.assert_allclose(dyn(x[:1]), dyn(x)[:1], rtol=1e-4, atol=1e-5)
    assert serving.name == "openvino-cpu-f32-dynbatch" and set(dyn.requests) == {(-1, 3, 32, 32)}


def test_nncf_overflow_fix_auto_follows_the_cpus_int8_dot_products():
    """auto: 7-bit weights in every layer where INT8 dot products sum u8 x s8 pairs into 16 bits (AVX2, AVX-512
    without VNNI), NNCF's own first-layer fix where VNNI / AMX accumulate in 32 bits; a set value is kept."""
    from ppslim.compress.nncf_ptq import overflow_fix
    from ppslim.config import OverflowFix, PtqConfig, PtqEngine

    nncf = PtqConfig(engine=PtqEngine.NNCF)
    assert overflow_fix(nncf, {"avx2", "fma"}) == OverflowFix.ENABLE
    assert overflow_fix(nncf, {"avx512f", "avx512_vnni"}) == OverflowFix.FIRST_LAYER
    assert overflow_fix(nncf, {"avx512f", "amx_int8", "amx_bf16"}) == OverflowFix.FIRST_LAYER
    kept = PtqConfig(engine=PtqEngine.NNCF, overflow_fix=OverflowFix.DISABLE)
    assert overflow_fix(kept, {"avx2"}) == OverflowFix.DISABLE
