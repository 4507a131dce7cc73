"""PaddleClas engine keys (Global, Optimizer, Optimizer.lr, AMP, EMA): accepted, refused, and each one changing
what training does (LR sequences, weight-decay exclusions, clipping, accumulation, EMA, to_static)."""
from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np
import pytest
import yaml

from ppslim import config, paddleclas_keys, schema
from ppslim.train import optim
from ppslim.train.amp import Amp
from ppslim.config import AmpConfig, EmaConfig, GlobalConfig, LrConfig, OptimizerConfig
from ppslim.train.ema import ModelEma
from ppslim.errors import ConfigError
from ppslim.train.step import TrainStep
from tests.conftest import DIGITS_CONFIG

PADDLECLAS_CONFIGS = "/work/paddleclas/ppcls/configs"

# A config section written here that sets every engine key ppslim reads from a PaddleClas config.
EVERY_KEY = """
Global:
  device: cpu
  use_visualdl: true
  to_static: false
  update_freq: 2
  eval_mode: classification
  use_dali: false
  image_channel: 3
Optimizer:
  name: AdamW
  beta1: 0.9
  beta2: 0.99
  epsilon: 1e-8
  weight_decay: 0.05
  regularizer: null
  no_weight_decay_name: .bias norm
  one_dim_param_no_weight_decay: true
  clip_grad: None
  multi_precision: false
  lr:
    name: Step
    learning_rate: 0.1
    step_size: 2.4
    gamma: 0.97
    warmup_epoch: 1
    warmup_start_lr: 1e-6
    by_epoch: true
    last_epoch: -1
    step_each_epoch: 1
AMP:
  use_amp: false
  scale_loss: 128.0
  use_dynamic_loss_scaling: true
  use_promote: false
  use_fp16_test: false
  level: O1
EMA:
  decay: 0.9995
"""


def load(*overrides, text=EVERY_KEY):
    data = yaml.safe_load(open(DIGITS_CONFIG))
    data = config.deep_merge(data, config._yaml_load(text))
    return config.from_dict(data, list(overrides))


def refused(*overrides) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    return info.value


# ------------------------------------------------------------------------------- the key table
def test_every_key_config_loads_with_paddleclas_meaning():
    cfg = load()
    g, opt = cfg.Global, cfg.Optimizer
    assert (g.use_visualdl, g.update_freq, str(g.eval_mode), g.use_dali) == (True, 2, "classification", False)
    assert (str(opt.name), opt.weight_decay, opt.one_dim_param_no_weight_decay) == ("AdamW", 0.05, True)
    assert opt.clip_grad is None  # the string "None" is null, as PaddleClas's literal_eval reads it
    assert opt.epsilon == 1e-8 and opt.lr.warmup_start_lr == 1e-6
    assert (opt.lr.step_size, opt.lr.gamma, opt.lr.by_epoch) == (2.4, 0.97, True)
    assert cfg.AMP == AmpConfig(use_amp=False, scale_loss=128.0, use_dynamic_loss_scaling=True)
    assert cfg.EMA == EmaConfig(decay=0.9995)


def test_every_new_field_is_honored_no_op_or_refused():
    """One place says what each PaddleClas key does; a field on none of the lists would be silent."""
    old = {"device", "seed", "epochs", "output_dir", "save_interval", "eval_during_train", "eval_interval",
           "print_batch_step", "pretrained_model", "checkpoints", "save_inference_dir", "inference_model_dir",
           "inference_backend", "image_shape", "cpu_threads", "verify_images", "verify_min_cosine",
           "verify_min_top1_agreement", "verify_int8_min_cosine", "verify_int8_min_top1_agreement", "overwrite",
           "openvino_precision", "openvino_streams",
           "name", "learning_rate", "warmup_epoch", "warmup_start_lr", "eta_min", "decay_epochs", "values",
           "step_size", "milestones", "gamma", "end_lr", "power", "last_epoch"}
    listed = set(paddleclas_keys.HONORED) | set(paddleclas_keys.NO_EFFECT) | set(paddleclas_keys.REFUSED)
    for path, cls in (("Global", GlobalConfig), ("Optimizer", OptimizerConfig), ("Optimizer.lr", LrConfig)):
        for f in dataclasses.fields(cls):
            if f.name not in old:
                assert f"{path}.{f.name}" in listed, f"{path}.{f.name} is on no list"
    assert not set(paddleclas_keys.NO_EFFECT) & set(paddleclas_keys.HONORED)


@pytest.mark.parametrize("override, key, text", [
    ("Global.use_dali=true", "Global.use_dali", "True not supported: NVIDIA DALI"),
    ("Global.eval_mode=retrieval", "Global.eval_mode", "only classification evaluation"),
    ("Global.train_mode=progressive", "Global.train_mode", "'progressive' not supported"),
    ("Global.use_multilabel=true", "Global.use_multilabel", "multi-label"),
    ("Global.uniform_output_enabled=true", "Global.uniform_output_enabled", "ppslim export"),
    ("Global.class_num=10", "Global.class_num", "set Arch.class_num instead"),
    ("Optimizer.regularizer={name: L2, coeff: 0.0001}", "Optimizer.weight_decay", "either regularizer or"),
    ("Optimizer.clip_norm=1.0", "Optimizer.clip_grad", "either clip_norm"),
    ("Optimizer.lr.last_epoch=3", "Optimizer.lr.last_epoch", "only -1"),
    ("Optimizer.use_nesterov=true", "Optimizer.use_nesterov", "only Momentum"),
    ("Optimizer.lr.step_size=null", "Optimizer.lr.step_size", "required by Step"),
    ("EMA.decay=1.0", "EMA.decay", "expected a value in (0, 1)"),
    ("AMP.level=O3", "AMP.level", "'O3' not in [O1, O2]"),
    ("Global.update_freq=0", "Global.update_freq", "expected an integer >= 1"),
])
def test_values_ppslim_does_not_do_are_refused_in_one_line(override, key, text):
    err = refused(override, "Optimizer.clip_grad=1.0") if "clip_norm" in override else refused(override)
    assert err.key_path == key and text in err.msg and "\n" not in str(err)


def test_unknown_keys_still_get_did_you_mean():
    err = refused("Optimizer.no_weight_decay_names=bias")
    assert err.key_path == "Optimizer.no_weight_decay_names" and "did you mean no_weight_decay_name?" in err.msg
    assert "did you mean decay?" in refused("EMA.decy=0.9").msg


def test_no_effect_keys_are_logged_once_at_debug(caplog):
    paddleclas_keys._noted.clear()
    with caplog.at_level("DEBUG", logger="ppslim.paddleclas_keys"):
        load()
        load()
    notes = [r.getMessage() for r in caplog.records if "has no effect" in r.getMessage()]
    assert sorted(n.split("=")[0] for n in notes) == ["Global.image_channel", "Optimizer.lr.step_each_epoch"]


@pytest.mark.skipif(not os.path.isdir(PADDLECLAS_CONFIGS), reason="PaddleClas's configs are not unpacked here")
def test_paddleclas_engine_sections_load():
    """Global, Optimizer, AMP and EMA of all 364 PaddleClas ImageNet/slim configs validate, except the values
    ppslim refuses in one line (DALI, retrieval, progressive training)."""
    files = sorted(glob.glob(f"{PADDLECLAS_CONFIGS}/ImageNet/**/*.yaml", recursive=True)
                   + glob.glob(f"{PADDLECLAS_CONFIGS}/slim/**/*.yaml", recursive=True))
    assert len(files) == 364
    refusals = {}
    for path in files:
        data = paddleclas_keys.literal_none(config.read_yaml(path))
        try:
            for key, cls in (("Global", GlobalConfig), ("Optimizer", OptimizerConfig), ("AMP", AmpConfig),
                             ("EMA", EmaConfig)):
                if data.get(key) is not None:
                    schema.build(cls, data[key], key)
        except ConfigError as e:
            refusals[path] = e
    paths = {e.key_path for e in refusals.values()}
    assert paths <= {"Global.use_dali", "Global.eval_mode", "Global.train_mode"}, refusals
    assert len(refusals) <= 13  # 9 use_dali: True, 3 retrieval, 1 progressive


# ------------------------------------------------------------------------------- LR schedules
def lrs(text: str, epochs=4, steps=3):
    return [round(v, 6) for v in optim.lr_sequence(schema.build(LrConfig, yaml.safe_load(text), "lr"), epochs, steps)]


def test_step_by_epoch_vs_by_iteration():
    per_epoch = lrs("{name: Step, learning_rate: 1.0, step_size: 2, gamma: 0.5, by_epoch: true}")
    per_iter = lrs("{name: Step, learning_rate: 1.0, step_size: 2, gamma: 0.5}")
    assert per_epoch == [1.0] * 6 + [0.5] * 6
    assert per_iter == per_epoch  # step_size is in epochs either way ...
    fine = lrs("{name: Step, learning_rate: 1.0, step_size: 0.5, gamma: 0.5}", epochs=1, steps=4)
    assert fine == [1.0, 1.0, 0.5, 0.5]  # ... but per-iteration decays inside an epoch (2.4-epoch steps)


def test_multistep_piecewise_linear_cosine_constant_and_warmup():
    assert lrs("{name: MultiStepDecay, learning_rate: 1.0, milestones: [1, 3], gamma: 0.1, by_epoch: true}",
               steps=1) == [1.0, 0.1, 0.1, 0.01]
    assert lrs("{name: Piecewise, decay_epochs: [2], values: [0.5, 0.05]}", steps=2) == [0.5] * 4 + [0.05] * 4
    # Piecewise from learning_rate alone: PaddleClas divides by 10 every 30 epochs.
    assert optim.piecewise_from_lr(0.1, 120)[0] == [30, 60, 90]
    assert lrs("{name: Linear, learning_rate: 1.0, end_lr: 0.0, by_epoch: true}", steps=1) == [1.0, 0.75, 0.5, 0.25]
    assert lrs("{name: Cosine, learning_rate: 1.0, by_epoch: true}", steps=1)[:3] == [1.0, 0.853553, 0.5]
    assert lrs("{name: Constant, learning_rate: 0.3}", epochs=2, steps=2) == [0.3] * 4
    warm = lrs("{name: Cosine, learning_rate: 1.0, warmup_epoch: 1, warmup_start_lr: 0.0}", epochs=3, steps=4)
    assert warm[:4] == [0.0, 0.25, 0.5, 0.75] and warm[4] == 1.0 and warm[-1] < 0.1


# ------------------------------------------------------------------------------- optimizers
def tiny_model(seed=0):
    import paddle

    paddle.seed(seed)
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 3), paddle.nn.LayerNorm(3), paddle.nn.Linear(3, 2))
    return model


def opt_for(text: str, model, lr=0.1):
    opt_cfg = schema.build(OptimizerConfig, config._yaml_load(text), "Optimizer")
    schedule = optim.build_lr(LrConfig(name="Constant", learning_rate=lr), 1, 1)
    return optim.build_optimizer(opt_cfg, model, schedule), schedule


def step_with_zero_grad(model, opt):
    import paddle

    x = paddle.ones([2, 4])
    (model(x) * 0.0).sum().backward()  # zero gradients: what moves a weight is its decay alone
    opt.step()
    opt.clear_grad()


@pytest.mark.parametrize("name", ["Momentum", "AdamW", "RMSProp", "SGD", "Adam"])
def test_weight_decay_exclusions(name):
    model = tiny_model()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    opt, _ = opt_for(f"{{name: {name}, weight_decay: 0.5, no_weight_decay_name: '2.', "
                     f"one_dim_param_no_weight_decay: true}}", model)
    step_with_zero_grad(model, opt)
    after = {n: p.numpy() for n, p in model.named_parameters()}
    assert not np.allclose(after["0.weight"], before["0.weight"])  # decayed
    for excluded in ("0.bias", "1.weight", "1.bias", "2.weight", "2.bias"):  # 1-D, or named "2."
        np.testing.assert_array_equal(after[excluded], before[excluded])
    # Without the exclusion rules, the same step decays them too.
    model2 = tiny_model()
    opt2, _ = opt_for(f"{{name: {name}, weight_decay: 0.5}}", model2)
    step_with_zero_grad(model2, opt2)
    assert not np.allclose(dict(model2.named_parameters())["2.weight"].numpy(), before["2.weight"])


def test_adamw_decay_is_decoupled():
    model = tiny_model()
    w0 = model[0].weight.numpy().copy()
    opt, _ = opt_for("{name: AdamW, weight_decay: 0.5}", model, lr=0.1)
    step_with_zero_grad(model, opt)
    np.testing.assert_allclose(model[0].weight.numpy(), w0 * (1 - 0.1 * 0.5), rtol=1e-6)


@pytest.mark.parametrize("key, bound", [("clip_grad", "global"), ("clip_norm", "each")])
def test_grad_clip_bounds_a_huge_step(key, bound):
    import paddle

    model = tiny_model()
    before = [p.numpy().copy() for p in model.parameters()]
    opt, _ = opt_for(f"{{name: SGD, {key}: 1.0}}", model, lr=1.0)
    (model(paddle.ones([2, 4]) * 1e4) ** 2).sum().backward()
    opt.step()
    moves = [np.linalg.norm(p.numpy() - b) for p, b in zip(model.parameters(), before)]
    if bound == "global":
        assert np.sqrt(sum(m ** 2 for m in moves)) <= 1.0 + 1e-4
    else:
        assert max(moves) <= 1.0 + 1e-4 and sum(moves) > 1.0 + 1e-4
    unclipped = tiny_model()
    opt2, _ = opt_for("{name: SGD}", unclipped, lr=1.0)
    (unclipped(paddle.ones([2, 4]) * 1e4) ** 2).sum().backward()
    opt2.step()
    assert max(np.linalg.norm(p.numpy() - b) for p, b in zip(unclipped.parameters(), before)) > 5


# ------------------------------------------------------------------------------- accumulation, EMA, to_static
def linear_run(batches, update_freq, ema_decay=None):
    import paddle

    paddle.seed(1)
    model = paddle.nn.Linear(4, 2)
    opt, schedule = opt_for("{name: SGD}", model, lr=0.5)
    ema = ModelEma(model, ema_decay) if ema_decay else None
    step = TrainStep(model, opt, schedule, Amp(None), update_freq, ema)
    stepped = []
    for x, y in batches:
        loss = paddle.nn.functional.mse_loss(model(paddle.to_tensor(x)), paddle.to_tensor(y))
        stepped.append(step(loss))
    return model, ema, stepped


def test_accumulation_matches_a_bigger_batch():
    rng = np.random.RandomState(0)
    x, y = rng.randn(8, 4).astype("float32"), rng.randn(8, 2).astype("float32")
    big, _, s1 = linear_run([(x, y)], 1)
    acc, _, s2 = linear_run([(x[:4], y[:4]), (x[4:], y[4:])], 2)
    assert s1 == [True] and s2 == [False, True]
    np.testing.assert_allclose(acc.weight.numpy(), big.weight.numpy(), atol=1e-6)
    np.testing.assert_allclose(acc.bias.numpy(), big.bias.numpy(), atol=1e-6)
    no_acc, _, _ = linear_run([(x[:4], y[:4]), (x[4:], y[4:])], 1)  # two plain steps land elsewhere
    assert not np.allclose(no_acc.weight.numpy(), big.weight.numpy(), atol=1e-4)


def test_ema_weights_follow_the_formula_and_differ_from_raw():
    import paddle

    paddle.seed(1)
    w0 = paddle.nn.Linear(4, 2).weight.numpy().copy()
    rng = np.random.RandomState(0)
    batches = [(rng.randn(4, 4).astype("float32"), rng.randn(4, 2).astype("float32")) for _ in range(2)]
    raw1, _, _ = linear_run(batches[:1], 1)
    model, ema, _ = linear_run(batches, 1, ema_decay=0.5)
    w1, w2 = raw1.weight.numpy(), model.weight.numpy()
    expected = 0.5 * (0.5 * w0 + 0.5 * w1) + 0.5 * w2
    np.testing.assert_allclose(ema.module.weight.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(ema.module.weight.numpy(), w2)


def test_to_static_trains_and_matches_dygraph():
    import paddle
    from paddle.jit.dy2static.program_translator import StaticFunction

    rng = np.random.RandomState(0)
    x, y = paddle.to_tensor(rng.randn(4, 4).astype("float32")), paddle.to_tensor(rng.randn(4, 2).astype("float32"))
    losses = []
    for static in (False, True):
        paddle.seed(3)
        model = paddle.nn.Linear(4, 2)
        if static:
            paddle.jit.to_static(model, input_spec=[paddle.static.InputSpec([None, 4], "float32")])
            assert isinstance(model.forward, StaticFunction)
        opt, schedule = opt_for("{name: Momentum}", model)
        step = TrainStep(model, opt, schedule, Amp(None))
        run = []
        for _ in range(3):
            loss = paddle.nn.functional.mse_loss(model(x), y)
            step(loss)
            run.append(float(loss))
        losses.append(run)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert losses[1][2] < losses[1][0]


def test_amp_training_on_cpu_is_refused_in_one_line_before_work(make_config, tmp_path):
    from ppslim.stages import train

    cfg = make_config("AMP={use_amp: true, level: O1}", "Global.device=cpu")  # loads: export/PTQ/eval ignore AMP
    with pytest.raises(ConfigError) as info:
        train.run(cfg)
    assert info.value.key_path == "AMP.use_amp" and "not supported on device cpu" in info.value.msg
    assert "\n" not in str(info.value)
    assert not os.path.exists(tmp_path / "output")


def test_amp_without_section_is_fp32_passthrough():
    amp = Amp(None)
    assert not amp.enabled and amp.scaler is None and not amp.eval_in_fp16
    o2 = Amp(AmpConfig(level="O2"))
    assert o2.eval_in_fp16 and o2.level == "O2"  # paddle evaluates an O2 model only in fp16


def _has_gpu() -> bool:
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


@pytest.mark.skipif(not _has_gpu(), reason="fp16 AMP needs a CUDA device (paddle 2.6 has no CPU AMP)")
@pytest.mark.parametrize("level", ["O1", "O2"])
def test_amp_runs_conv_in_fp16_and_learns(level):
    import paddle

    paddle.set_device("gpu")
    try:
        paddle.seed(0)
        model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 3), paddle.nn.ReLU(), paddle.nn.Flatten(),
                                     paddle.nn.Linear(8 * 6 * 6, 4))
        seen = []
        model[0].register_forward_post_hook(lambda layer, inp, out: seen.append(out.dtype))
        amp = Amp(AmpConfig(level=level, scale_loss=128.0, use_dynamic_loss_scaling=True))
        opt, schedule = opt_for("{name: Momentum}", model, lr=0.05)
        model, opt = amp.decorate(model, opt)
        if level == "O2":
            assert model[0].weight.dtype == paddle.float16
        step = TrainStep(model, opt, schedule, amp)
        x, y = paddle.randn([8, 3, 8, 8]), paddle.randint(0, 4, [8, 1])
        losses = []
        for _ in range(20):
            with amp.train_cast():
                loss = paddle.nn.functional.cross_entropy(model(x), y)
            step(loss)
            losses.append(float(loss))
        assert seen and all(d == paddle.float16 for d in seen)
        assert losses[-1] < losses[0] * 0.7
    finally:
        paddle.set_device("cpu")
