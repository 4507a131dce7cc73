"""QAT, pruning, PTQ and Lite on the digits data: real PaddleSlim / Paddle Inference / Lite calls.

Starts from the session's ``trained_model`` (see conftest). Each test writes into its own tmp dir.
"""
from __future__ import annotations

import collections
import os

import numpy as np
import pytest

from ppslim import artifacts
from ppslim.errors import ArtifactError, ConfigError, PpslimError
from ppslim.predict import QUANT_OPS, read_program_ops, stored_weight_dtypes
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

QUANT = ["Slim.quant.name=qat", "Global.epochs=1", "Optimizer.lr.learning_rate=0.01", "Optimizer.lr.warmup_epoch=0"]
PRUNE = ["Slim.prune.name=fpgm", "Slim.prune.pruned_ratio=0.3", "Global.epochs=1",
         "Optimizer.lr.learning_rate=0.02", "Optimizer.lr.warmup_epoch=0"]
PTQ = ["Slim.ptq.algo=hist", "Slim.ptq.batch_size=16", "Slim.ptq.batch_nums=4"]


def int8_evidence(model_dir: str) -> tuple[int, collections.Counter]:
    model_file, params_file = artifacts.inference_files(model_dir)
    quant_ops = sum(op in QUANT_OPS for op in read_program_ops(model_file))
    return quant_ops, collections.Counter(stored_weight_dtypes(model_file, params_file).values())


def leftovers(root: str) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files if ".tmp-" in n]


# ------------------------------------------------------------------------------- PTQ
@pytest.fixture(scope="module")
def ptq_result(trained_model, tmp_path_factory, digits_dir):
    from ppslim import config
    from ppslim.stages import ptq
    from tests.conftest import DIGITS_CONFIG, data_overrides

    # PTQ writes beside its source, so quantize a copy of the shared exported model.
    import shutil
    src = tmp_path_factory.mktemp("ptq") / "fp32"
    shutil.copytree(trained_model.inference_dir, src)
    cfg = config.load(str(DIGITS_CONFIG), [*data_overrides(digits_dir), f"Global.inference_model_dir={src}", *PTQ])
    return ptq.run(cfg), cfg


def test_ptq_writes_real_int8_beside_source(ptq_result, trained_model):
    result, cfg = ptq_result
    # export left its verified FP32 outputs beside the model; PTQ reused them as its reference
    from ppslim.inference_model import model_outputs, verification_images
    from ppslim.predict import paddle_predictor, predict_all
    model_file, params_file = artifacts.inference_files(result.source_dir)
    images = verification_images(cfg)
    assert os.path.isfile(os.path.join(result.source_dir, artifacts.OUTPUTS_FILE))
    np.testing.assert_allclose(model_outputs(cfg, model_file, params_file, images),
                               predict_all(paddle_predictor(model_file, params_file), images), rtol=1e-5, atol=1e-5)
    assert result.model_dir == os.path.join(result.source_dir, "quant_post_static_model")
    quant_ops, dtypes = int8_evidence(result.model_dir)
    assert quant_ops > 0 and result.quant_ops == quant_ops
    assert dtypes["int8"] >= 4, dtypes           # 3 convs + 1 linear stored as real int8
    assert result.params_bytes <= 0.30 * result.fp32_params_bytes
    assert result.calib_images == 64 and result.calib_batches == 4
    assert result.backend == "paddle-cpu-onednn_int8"
    assert result.agreement.cosine > 0.98


def test_ptq_accuracy_close_to_fp32(ptq_result, trained_model, make_config):
    from ppslim.stages import eval as eval_stage

    result, _ = ptq_result
    fp32 = eval_stage.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}"))
    int8 = eval_stage.run(make_config(f"Global.inference_model_dir={result.model_dir}"))
    plain = eval_stage.run(make_config(f"Global.inference_model_dir={result.model_dir}", "Global.inference_backend=plain"))
    assert int8.backend == "paddle-cpu-onednn_int8" and plain.backend == "paddle-cpu-plain"
    assert fp32.top1 > 0.85
    assert int8.top1 >= fp32.top1 - 0.02 and plain.top1 >= fp32.top1 - 0.02


def test_ptq_is_byte_reproducible(trained_model, tmp_path, digits_dir):
    """Same model, same data, same seed: identical quantized files (the CI reproducibility check)."""
    import shutil

    from ppslim import config
    from ppslim.stages import ptq
    from tests.conftest import DIGITS_CONFIG, data_overrides

    blobs = []
    for run in ("a", "b"):
        src = tmp_path / run
        shutil.copytree(trained_model.inference_dir, src)
        ptq.run(config.load(str(DIGITS_CONFIG), [*data_overrides(digits_dir), f"Global.inference_model_dir={src}",
                                                 *PTQ]))
        out = artifacts.ptq_dir(str(src))
        blobs.append([open(os.path.join(out, f), "rb").read() for f in (artifacts.MODEL_FILE, artifacts.PARAMS_FILE)])
    assert blobs[0] == blobs[1]


def test_ptq_on_plain_jit_saved_vision_model(tmp_path, make_config, vision_model):
    """ANY inference model: a paddle.vision network (trained briefly, see conftest ``vision_model``) saved by
    plain paddle.jit.save, other file and input names than ppslim's own exports."""
    import shutil

    from ppslim.stages import ptq

    src = tmp_path / "mbv2"
    shutil.copytree(vision_model, src)
    result = ptq.run(make_config(f"Global.inference_model_dir={src}", "Slim.ptq.model_filename=mbv2_digits.pdmodel",
                                 "Slim.ptq.params_filename=mbv2_digits.pdiparams", *PTQ))
    quant_ops, dtypes = int8_evidence(result.model_dir)
    assert quant_ops > 50 and dtypes["int8"] > 20
    assert result.agreement.cosine > 0.98 and result.agreement.top1_agreement >= 0.9


def test_ptq_bad_inputs_fail_fast_and_leave_nothing(tmp_path, trained_model, make_config):
    from ppslim.stages import ptq

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"Global.inference_model_dir: .* has no \*.pdmodel / \*.pdiparams \(found: nothing\)"):
        ptq.run(make_config(f"Global.inference_model_dir={empty}", *PTQ))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "inference.pdmodel").write_bytes(b"definitely not a protobuf program" * 10)
    (fake / "inference.pdiparams").write_bytes(b"\0" * 64)
    with pytest.raises(ArtifactError, match="not a Paddle inference program"):
        ptq.run(make_config(f"Global.inference_model_dir={fake}", *PTQ))
    with pytest.raises(ConfigError, match=r"Slim.ptq.batch_nums: expected an integer >= 1"):
        make_config(f"Global.inference_model_dir={trained_model.inference_dir}", "Slim.ptq.batch_nums=0")
    with pytest.raises(ConfigError, match=r"Slim.ptq.algo: 'hits' not in .*did you mean hist"):
        make_config("Slim.ptq.algo=hits")
    # zero calibration images: an empty train list is refused before any quantization work
    empty_list = tmp_path / "empty_list.txt"
    empty_list.write_text("")
    with pytest.raises(ConfigError, match="lists no images"):
        ptq.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}",
                            f"DataLoader.Train.dataset.cls_label_path={empty_list}", *PTQ))
    # calibration images that do not fit the model's input are refused before calibration
    with pytest.raises(ConfigError, match=r"^DataLoader.Train.dataset.transform_ops: produce images of shape "
                                          r"\[3, 16, 16\], the model's input 'x' wants \[3, 32, 32\]"):
        ptq.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}",
                            "DataLoader.Train.dataset.transform_ops.1.ResizeImage.size=16", *PTQ))
    assert not os.path.exists(artifacts.ptq_dir(str(fake))) and not leftovers(str(tmp_path))
    assert not os.path.exists(artifacts.ptq_dir(trained_model.inference_dir))


def test_ptq_cli_exit_code_and_one_line_error(tmp_path):
    proc = run_cli("ptq", "-c", "configs/digits/ptq.yaml", "-o", f"Global.inference_model_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Global.inference_model_dir: ")


# ------------------------------------------------------------------------------- QAT
def test_qat_exports_verified_int8(trained_model, make_config, tmp_path):
    from ppslim.stages import eval as eval_stage
    from ppslim.stages import qat

    result = qat.run(make_config(*trained_model.overrides, *QUANT))
    quant_ops, dtypes = int8_evidence(result.model_dir)
    assert result.quantized_layers == 4 and quant_ops == result.quant_ops > 0 and dtypes["int8"] >= 4
    assert result.agreement.top1_agreement >= 0.9
    int8 = eval_stage.run(make_config(f"Global.inference_model_dir={result.model_dir}"))
    fp32 = eval_stage.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}"))
    assert int8.top1 >= fp32.top1 - 0.02, (int8, fp32)
    # the QAT checkpoint reloads (wrappers re-applied from .pdstates) and scores like the export
    ckpt = eval_stage.run(make_config(f"Global.pretrained_model={os.path.join(result.run_dir, 'best_model')}"))
    assert abs(ckpt.top1 - int8.top1) <= 0.02
    assert not leftovers(str(tmp_path))


def test_export_of_qat_checkpoint_writes_int8_like_paddleclas_export_model(trained_model, make_config, tmp_path):
    """PaddleClas's tutorial: ``tools/export_model.py -c X_quantization.yaml -o Global.pretrained_model=
    output/X/best_model`` exports the INT8 model. ``ppslim export`` does the same, also for a checkpoint
    that has no ppslim ``.pdstates`` (as PaddleClas writes them): the config's ``Slim.quant`` applies."""
    import shutil

    from ppslim.stages import export, qat

    result = qat.run(make_config(*trained_model.overrides, *QUANT, workdir=tmp_path / "qat"))
    best = os.path.join(result.run_dir, "best_model")
    exported = export.run(make_config(*QUANT, f"Global.pretrained_model={best}", workdir=tmp_path / "exp"))
    quant_ops, dtypes = int8_evidence(exported.model_dir)
    assert quant_ops > 0 and dtypes["int8"] >= 4 and exported.backend.endswith("onednn_int8")
    bare = tmp_path / "paddleclas_like" / "best_model"
    bare.parent.mkdir()
    shutil.copy(best + ".pdparams", str(bare) + ".pdparams")  # weights only, no .pdstates
    again = export.run(make_config(*QUANT, f"Global.pretrained_model={bare}", workdir=tmp_path / "exp2"))
    assert int8_evidence(again.model_dir)[0] == quant_ops
    with pytest.raises(ConfigError, match="does not match the network"):  # without Slim.quant: strict load fails
        export.run(make_config(f"Global.pretrained_model={bare}", workdir=tmp_path / "exp3"))


def test_qat_pact_and_missing_slim_section(trained_model, make_config):
    from ppslim.stages import qat

    pact = qat.run(make_config(*trained_model.overrides, *QUANT, "Slim.quant.name=pact"))
    assert pact.method == "pact" and pact.quant_ops > 0
    with pytest.raises(ConfigError, match=r"^Slim.quant: required by this stage"):
        qat.run(make_config(*trained_model.overrides))


def test_qat_refuses_network_without_quantizable_layers(make_config):
    """The incumbent silently skipped quantization for unsupported architectures."""
    from ppslim.stages import qat

    with pytest.raises(PpslimError, match="QAT quantized no layers"):
        qat.run(make_config(*QUANT, "Slim.quant.quantizable_layer_type=[Conv2DTranspose]"))


# ------------------------------------------------------------------------------- prune
@pytest.fixture(scope="module")
def pruned(trained_model, tmp_path_factory, digits_dir):
    from ppslim import config
    from ppslim.stages import prune
    from tests.conftest import DIGITS_CONFIG, output_overrides

    work = tmp_path_factory.mktemp("pruned")
    cfg = config.load(str(DIGITS_CONFIG), [*trained_model.overrides, *output_overrides(work), *PRUNE])
    return prune.run(cfg), work


def test_prune_shapes_and_flops(pruned):
    import paddle

    result, _ = pruned
    state = paddle.load(result.best_model + ".pdparams")
    out_channels = [int(state[k].shape[0]) for k in ("features.0.weight", "features.4.weight", "features.8.weight")]
    assert out_channels == [11, 22, 45]                 # 16/32/64 filters minus round(30%)
    assert list(state["fc.weight"].shape) == [45, 10]  # the consumer follows the pruned producer
    assert result.flops_reduction >= 0.45 and result.params_after < 0.6 * result.params_before


def test_pruned_checkpoint_exports_evals_and_takes_qat(pruned, trained_model, make_config, tmp_path):
    """Pruned checkpoints reload (plan replayed) in export/eval/qat: prune -> QAT works."""
    from ppslim.stages import eval as eval_stage
    from ppslim.stages import export, qat

    result, _ = pruned
    weights = f"Global.pretrained_model={result.best_model}"
    exported = export.run(make_config(weights))
    assert exported.params == result.params_after and exported.agreement.cosine > 0.999
    scored = eval_stage.run(make_config(f"Global.inference_model_dir={exported.model_dir}"))
    assert scored.top1 > 0.8
    quantized = qat.run(make_config(weights, *QUANT, workdir=tmp_path / "qat"))
    _, dtypes = int8_evidence(quantized.model_dir)
    assert dtypes["int8"] >= 4
    assert os.path.getsize(os.path.join(quantized.model_dir, artifacts.PARAMS_FILE)) < 0.2 * os.path.getsize(
        os.path.join(trained_model.inference_dir, artifacts.PARAMS_FILE))


def test_prune_bad_inputs(trained_model, make_config):
    from ppslim.stages import prune

    for ratio in ("0", "1.0", "-0.2", "1.5"):
        with pytest.raises(ConfigError, match=r"Slim.prune.pruned_ratio: expected a ratio in \(0, 1\)"):
            make_config(f"Slim.prune.pruned_ratio={ratio}")
    with pytest.raises(ConfigError, match=r"Slim.prune.pruned_ratio.features.0.weight"):
        make_config("Slim.prune.pruned_ratio={features.0.weight: 2}")
    with pytest.raises(ConfigError, match=r"^Slim.prune: required by this stage"):
        prune.run(make_config(*trained_model.overrides))
    with pytest.raises(ConfigError, match="not a Conv2D weight"):
        prune.run(make_config(*trained_model.overrides, "Slim.prune.pruned_ratio={nope.weight: 0.3}"))


def test_l1_norm_per_layer_ratio(trained_model, make_config):
    from ppslim.stages import prune

    result = prune.run(make_config(*trained_model.overrides, *PRUNE, "Slim.prune.name=l1_norm",
                                   "Slim.prune.pruned_ratio={features.0.weight: 0.5}"))
    import paddle
    state = paddle.load(result.best_model + ".pdparams")
    assert int(state["features.0.weight"].shape[0]) == 8 and int(state["features.4.weight"].shape[0]) == 32


# ------------------------------------------------------------------------------- Lite
def test_lite_x86_fp32_matches_and_arm_is_converted_not_claimed(trained_model, make_config, tmp_path):
    from ppslim.stages import eval as eval_stage
    from ppslim.stages import lite

    out = tmp_path / "lite"
    result = lite.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}",
                                  "Slim.lite.valid_targets=[x86, arm]", f"Slim.lite.optimize_out={out}"))
    x86, arm = result.targets
    assert x86.verified and x86.agreement.top1_agreement == 1.0 and x86.agreement.cosine > 0.999
    assert not arm.verified and "not run" in arm.note and arm.nb_bytes > 10_000
    assert "conv2d" in arm.optimized_ops
    nb = eval_stage.run(make_config(f"Global.inference_model_dir={x86.nb_path}"))
    ref = eval_stage.run(make_config(f"Global.inference_model_dir={trained_model.inference_dir}"))
    assert nb.backend == "paddle-lite-x86" and nb.top1 == ref.top1


def test_lite_refuses_x86_int8_and_leaves_nothing(ptq_result, make_config, tmp_path):
    from ppslim.stages import lite

    result, _ = ptq_result
    out = tmp_path / "lite_int8"
    with pytest.raises(ArtifactError, match="x86 INT8 kernels are known to be wrong"):
        lite.run(make_config(f"Global.inference_model_dir={result.model_dir}", "Slim.lite.valid_targets=[x86]",
                             f"Slim.lite.optimize_out={out}"))
    assert not out.exists() and not leftovers(str(tmp_path))
    arm = lite.run(make_config(f"Global.inference_model_dir={result.model_dir}", "Slim.lite.valid_targets=[arm]",
                               f"Slim.lite.optimize_out={out}"))
    assert arm.quantized and arm.targets[0].optimized_ops.get("calib", 0) > 0  # fp32<->int8 transitions


def test_lite_opt_crash_is_a_clear_error(make_config, tmp_path, trained_model):
    """``paddle.flatten`` exports flatten_contiguous_range, which segfaults Lite 2.13's x86 opt."""
    import paddle
    from paddle.static import InputSpec

    from ppslim import models
    from ppslim.config import ArchConfig
    from ppslim.stages import lite

    net = models.build_model(ArchConfig(name="DigitsNet", class_num=10))
    models.load_weights(net, trained_model.checkpoint)
    net.eval()

    class Flattened(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.features, self.fc = net.features, net.fc

        def forward(self, x):
            return self.fc(paddle.flatten(self.features(x), 1))

    src = tmp_path / "flat"
    paddle.jit.save(Flattened(), str(src / "inference"), input_spec=[InputSpec([None, 3, 32, 32], "float32", "x")])
    out = tmp_path / "lite_flat"
    with pytest.raises(ArtifactError, match=r"paddle_lite_opt crashed with SIG\w+ .*paddle.flatten"):
        lite.run(make_config(f"Global.inference_model_dir={src}", "Slim.lite.valid_targets=[x86]",
                             f"Slim.lite.optimize_out={out}"))
    assert not out.exists()
    with pytest.raises(ConfigError, match=r"Slim.lite.valid_targets.0: 'x68' not in .*did you mean x86"):
        make_config("Slim.lite.valid_targets=[x68]")


# ------------------------------------------------------------------------------- infer
def test_infer_prints_class_names_and_backend(trained_model):
    proc = run_cli("infer", "-c", "configs/digits/train.yaml", "-o", *trained_model.overrides,
                   f"Global.inference_model_dir={trained_model.inference_dir}", "Infer.PostProcess.topk=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert "backend paddle-cpu-onednn" in lines[0]
    predicted = [line.split(": ", 1)[1].split(" ")[0] for line in lines[1:]]
    assert len(predicted) > 100 and np.mean([p == "digit_3" for p in predicted]) > 0.8
