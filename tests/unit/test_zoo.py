"""PaddleClas's own backbone zoo through ``Arch``: state dicts match PaddleClas's, keys change the network,
``Arch.pretrained`` loads strictly or fails in one line, and the DistillationModel container."""
from __future__ import annotations

import numpy as np
import pytest

from ppslim import config, models
from ppslim.config import ArchConfig
from ppslim.errors import ConfigError


def forward(model, shape=(2, 3, 32, 32), seed=0):
    import paddle

    model.eval()
    with paddle.no_grad():
        out = model(paddle.to_tensor(np.random.RandomState(seed).rand(*shape).astype("float32")))
    return {k: v.numpy() for k, v in out.items()} if isinstance(out, dict) else out.numpy()


def arch(raw: dict, *overrides: str, **global_keys) -> ArchConfig:
    return config.from_dict({"Arch": raw, **({"Global": global_keys} if global_keys else {})}, list(overrides)).Arch


# ------------------------------------------------------------------------------- PaddleClas's classes
def test_paddleclas_state_dict_loads_strictly(tmp_path):
    """The issue's bar: a state dict saved from PaddleClas's own class loads strictly into ppslim's."""
    import paddle
    from paddleclas.ppcls.arch.backbone import ResNet50_vd

    theirs = ResNet50_vd(class_num=10)
    paddle.save(theirs.state_dict(), str(tmp_path / "r50vd.pdparams"))
    ours = models.build_model(arch({"name": "ResNet50_vd", "class_num": 10}))
    assert type(ours) is type(theirs)
    assert not np.allclose(forward(ours, (1, 3, 64, 64)), forward(theirs, (1, 3, 64, 64)))
    assert models.load_weights(ours, str(tmp_path / "r50vd")) == len(theirs.state_dict())
    np.testing.assert_allclose(forward(ours, (1, 3, 64, 64)), forward(theirs, (1, 3, 64, 64)), rtol=1e-5, atol=1e-6)


def test_paddle_vision_checkpoint_refused_by_paddleclas_resnet50(tmp_path):
    """ResNet50 means PaddleClas's class now; paddle.vision's resnet50 (the lowercase name) names tensors otherwise."""
    import paddle

    vision = models.build_model(ArchConfig(name="resnet50", class_num=10))
    paddle.save(vision.state_dict(), str(tmp_path / "v.pdparams"))
    with pytest.raises(ConfigError, match="does not match the network"):
        models.load_weights(models.build_model(arch({"name": "ResNet50", "class_num": 10})), str(tmp_path / "v"))


def test_class_num_and_flat_kwargs_change_the_network():
    base = {"name": "PPLCNet_x0_25", "class_num": 7}
    assert forward(models.build_model(arch(base)), (1, 3, 64, 64)).shape == (1, 7)
    # PaddleClas configs put network arguments straight under Arch.
    narrow = models.count_params(models.build_model(arch({**base, "class_expand": 64})))
    assert narrow < models.count_params(models.build_model(arch(base)))


def test_drop_path_rate_reaches_the_transformer():
    cfg = arch({"name": "DeiT_tiny_patch16_224", "class_num": 3, "drop_path_rate": 0.3, "img_size": 32})
    assert cfg.kwargs == {"drop_path_rate": 0.3, "img_size": 32}
    model = models.build_model(cfg)
    rates = [b.drop_path.drop_prob for b in model.blocks if hasattr(b.drop_path, "drop_prob")]
    assert rates and max(rates) == pytest.approx(0.3)
    plain = models.build_model(arch({"name": "DeiT_tiny_patch16_224", "class_num": 3, "img_size": 32}))
    assert not any(hasattr(b.drop_path, "drop_prob") for b in plain.blocks)
    assert forward(model, (1, 3, 32, 32)).shape == (1, 3)


def test_named_parameters_network_builds_twice_in_one_process():
    """DPN names its parameters; a second build (pipeline, teacher + student) must not collide."""
    first = models.build_model(arch({"name": "DPN68", "class_num": 2}))
    second = models.build_model(arch({"name": "DPN68", "class_num": 2}))
    assert models.count_params(first) == models.count_params(second)


def test_dropout_prob_changes_training_outputs():
    import paddle

    def train_outputs(p):
        model = models.build_model(arch({"name": "MobileNetV3_small_x0_35", "class_num": 4, "dropout_prob": p}))
        model.train()
        x = paddle.to_tensor(np.random.RandomState(0).rand(2, 3, 64, 64).astype("float32"))
        paddle.seed(1)
        a = model(x).numpy()
        paddle.seed(2)
        return a, model(x).numpy()

    a, b = train_outputs(None)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # no dropout: BN in train mode is deterministic
    a, b = train_outputs(0.5)
    assert not np.allclose(a, b)


def test_unknown_kwarg_one_line_naming_the_key():
    """PaddleClas's ResNet swallows unknown keywords (``**kargs``) and ignores them; ppslim refuses them."""
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {"name": "ResNet50_vd", "class_num": 10, "drop_path_rate": 0.1}})
    assert info.value.key_path == "Arch.drop_path_rate"
    assert info.value.msg.startswith("not a parameter of PaddleClas's ResNet50_vd")
    assert "accepted: [" in info.value.msg and "class_num" in info.value.msg and "\n" not in info.value.msg


def test_key_paddleclas_drops_is_accepted_only_switched_off():
    """PaddleClas's Swin configs pass ``use_fused_attn: False`` to a class that has no such parameter and drops
    it via ``**kwargs``: off, it asks for what the network does anyway; on, ppslim refuses it."""
    swin = {"name": "SwinTransformer_tiny_patch4_window7_224", "class_num": 10}
    assert config.from_dict({"Arch": {**swin, "use_fused_attn": False}}).Arch.kwargs == {"use_fused_attn": False}
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {**swin, "use_fused_attn": True}})
    assert info.value.key_path == "Arch.use_fused_attn" and info.value.msg.endswith("(PaddleClas would drop it unused)")
    star = models.build_model(arch({"name": "StarNet_S1", "class_num": 3, "drop_rate": 0}))
    assert forward(star, (1, 3, 32, 32)).shape == (1, 3)


def test_misspelt_class_num_gets_a_hint():
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {"name": "ResNet18", "clas_num": 10}})
    assert info.value.key_path == "Arch.clas_num" and "did you mean class_num?" in info.value.msg


def test_keyword_the_builder_fixes_is_refused_when_built():
    cfg = arch({"name": "MobileNetV3_large_x1_0", "scale": 0.5})  # the class takes scale; this builder sets it
    with pytest.raises(ConfigError, match=r"^Arch: PaddleClas's MobileNetV3_large_x1_0 refused .*scale"):
        models.build_model(cfg)


def test_unknown_name_hint_covers_the_zoo():
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {"name": "ResNet50_vdd"}})
    assert info.value.key_path == "Arch.name" and "did you mean ResNet50_vd?" in info.value.msg


def test_config_round_trips_flat_kwargs():
    cfg = config.from_dict({"Arch": {"name": "ResNet50_vd", "class_num": 10, "lr_mult_list": [0.1, 0.1, 0.2, 0.2, 0.3],
                                     "pretrained": False}})
    plain = config.to_dict(cfg)["Arch"]
    assert plain == {"name": "ResNet50_vd", "class_num": 10, "pretrained": False, "params": {},
                     "lr_mult_list": [0.1, 0.1, 0.2, 0.2, 0.3]}
    assert config.from_dict(config.to_dict(cfg)).Arch == cfg.Arch


def test_override_adds_a_network_kwarg():
    cfg = arch({"name": "ViT_small_patch16_224"}, "Arch.drop_rate=0.2", "Arch.img_size=64")
    assert cfg.kwargs == {"drop_rate": 0.2, "img_size": 64}


@pytest.mark.parametrize("raw, key, text", [
    ({"name": "RecModel"}, "Arch.name", "RecModel: retrieval models"),
    ({"name": "ResNet18", "use_ml_decoder": True}, "Arch.use_ml_decoder", "ML-Decoder"),
    ({"name": "ResNet18", "infer_model_name": "Student"}, "Arch.infer_model_name", "only DistillationModel"),
])
def test_refusals(raw, key, text):
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": raw})
    assert info.value.key_path == key and text in info.value.msg


def test_sync_bn_refused_on_cpu_honoured_on_gpu():
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {"name": "ResNet18", "use_sync_bn": True}})
    assert info.value.key_path == "Arch.use_sync_bn" and "Global.device: gpu" in info.value.msg
    assert config.from_dict({"Global": {"device": "gpu"}, "Arch": {"name": "ResNet18", "use_sync_bn": True}}).Arch.use_sync_bn


# ------------------------------------------------------------------------------- Arch.pretrained
def test_pretrained_true_without_network_fails_in_one_line(tmp_path, monkeypatch):
    """No network here: an unreachable proxy makes that deterministic and immediate."""
    monkeypatch.setenv("PPSLIM_WEIGHTS_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PPSLIM_DOWNLOAD_TIMEOUT", "5")
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    cfg = arch({"name": "ResNet18", "pretrained": True, "use_ssld": True})
    with pytest.raises(ConfigError) as info:
        models.build_model(cfg, pretrained=True)
    url = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/ResNet18_ssld_pretrained.pdparams"
    assert str(info.value).startswith(f"Arch.pretrained: cannot download {url} (")
    assert str(info.value).endswith("); download it elsewhere and set Global.pretrained_model to the file, "
                                    "or set Arch.pretrained to its path")
    assert "\n" not in str(info.value)
    assert not any((tmp_path / "cache").iterdir())  # no half-written file


def test_pretrained_true_uses_the_cached_file_strictly(tmp_path, monkeypatch):
    """A file already in the cache (PaddleClas's ~/.paddleclas/weights layout) is loaded without network."""
    import paddle
    from paddleclas.ppcls.arch.backbone import PPLCNet_x0_25

    monkeypatch.setenv("PPSLIM_WEIGHTS_HOME", str(tmp_path))
    published = PPLCNet_x0_25(class_num=5)
    paddle.save(published.state_dict(), str(tmp_path / "PPLCNet_x0_25_pretrained.pdparams"))
    model = models.build_model(arch({"name": "PPLCNet_x0_25", "class_num": 5, "pretrained": True}), pretrained=True)
    np.testing.assert_allclose(forward(model, (1, 3, 64, 64)), forward(published, (1, 3, 64, 64)), rtol=1e-5, atol=1e-6)
    # Strict: published weights with another head are refused, not half-loaded as PaddleClas's set_dict does.
    with pytest.raises(ConfigError, match=r"^Arch.pretrained: .* does not match the network.*other shapes"):
        models.build_model(arch({"name": "PPLCNet_x0_25", "class_num": 7, "pretrained": True}), pretrained=True)
    # Building without pretrained=True (a stage restoring a checkpoint) does not load it.
    assert not np.allclose(forward(models.build_model(arch({"name": "PPLCNet_x0_25", "class_num": 5,
                                                             "pretrained": True})), (1, 3, 64, 64)),
                           forward(published, (1, 3, 64, 64)))


def test_pretrained_path_loads_that_file(tmp_path):
    import paddle

    src = models.build_model(arch({"name": "DigitsNet", "class_num": 10}))
    paddle.save(src.state_dict(), str(tmp_path / "w.pdparams"))
    model = models.build_model(arch({"name": "DigitsNet", "class_num": 10, "pretrained": str(tmp_path / "w")}),
                               pretrained=True)
    np.testing.assert_allclose(forward(model), forward(src), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"^Arch.pretrained: weights file not found"):
        models.build_model(arch({"name": "DigitsNet", "pretrained": str(tmp_path / "nope")}), pretrained=True)


def test_pretrained_url_follows_paddleclas():
    from ppslim import zoo

    base = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
    assert zoo.pretrained_url("ResNet50_vd", {}) == base + "legendary_models/ResNet50_vd_pretrained.pdparams"
    assert zoo.pretrained_url("ResNet50_vd", {"use_ssld": True}) == base + "legendary_models/ResNet50_vd_ssld_pretrained.pdparams"
    assert zoo.pretrained_url("PPHGNetV2_B4", {"use_ssld": True}).endswith("PPHGNetV2_B4_ssld_stage1_pretrained.pdparams")
    assert zoo.pretrained_url("ResNet50_last_stage_stride1", {}).endswith("/ResNet50_pretrained.pdparams")
    assert zoo.pretrained_url("WideResNet", {}) is None


# ------------------------------------------------------------------------------- DistillationModel
DISTILL = {
    "name": "DistillationModel", "class_num": 10, "freeze_params_list": [True, False],
    "infer_model_name": "Student",
    "models": [{"Teacher": {"name": "DigitsNet", "width": 8}}, {"Student": {"name": "DigitsNet", "width": 4}}],
}


def test_distillation_model_builds_and_freezes_the_teacher():
    model = models.build_model(arch(DISTILL))
    out = forward(model)
    assert set(out) == {"Teacher", "Student"} and out["Student"].shape == (2, 10)
    assert all(not p.trainable and p.stop_gradient for p in model.member("Teacher").parameters())
    student = dict(model.member("Student").named_parameters())
    assert student["fc.weight"].trainable and student["features.0.weight"].trainable  # BN statistics never are
    keys = model.state_dict().keys()
    assert any(k.startswith("Teacher.") for k in keys) and any(k.startswith("Student.") for k in keys)
    assert models.inference_network(model) is model.member("Student")


def test_distillation_pretrained_list_loads_members(tmp_path):
    import paddle

    teacher = models.build_model(arch({"name": "DigitsNet", "class_num": 10, "width": 8}))
    paddle.save(teacher.state_dict(), str(tmp_path / "t.pdparams"))
    cfg = arch({**DISTILL, "pretrained_list": [str(tmp_path / "t"), None]})
    model = models.build_model(cfg, pretrained=True)
    np.testing.assert_allclose(forward(model)["Teacher"], forward(teacher), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"^Arch.pretrained_list.1: .*does not match"):
        models.build_model(arch({**DISTILL, "pretrained_list": [None, str(tmp_path / "t")]}), pretrained=True)


@pytest.mark.parametrize("change, key, text", [
    ({"freeze_params_list": [True]}, "Arch.freeze_params_list", "expected 2 entries"),
    ({"infer_model_name": "Pupil"}, "Arch.infer_model_name", "'Pupil' not in ['Teacher', 'Student']"),
    ({"models": []}, "Arch.models", "needs a list"),
    ({"models": [{"Teacher": {"name": "DigitsNet", "widht": 8}}]}, "Arch.models.0.Teacher.widht",
     "not a parameter of"),
    ({"drop_path_rate": 0.1}, "Arch.drop_path_rate", "put network arguments on a member"),
])
def test_distillation_config_errors(change, key, text):
    with pytest.raises(ConfigError) as info:
        arch({**DISTILL, **change})
    assert info.value.key_path == key and text in info.value.msg


def test_distillation_round_trip():
    cfg = config.from_dict({"Arch": DISTILL})
    assert config.from_dict(config.to_dict(cfg)).Arch == cfg.Arch
    assert config.to_dict(cfg)["Arch"]["models"][0] == {"Teacher": {"name": "DigitsNet", "pretrained": False,
                                                                    "params": {}, "width": 8}}


# ------------------------------------------------------------------------------- losses and metric
def _t(a):
    import paddle

    return paddle.to_tensor(np.asarray(a, dtype="float32"))


def _loss(name, **params):
    from ppslim.train.losses import LOSSES

    return LOSSES[name](**params)


def test_dml_and_kl_are_zero_on_identical_logits_and_positive_otherwise():
    import paddle

    same = {"Student": _t([[1.0, 2.0, 3.0]]), "Teacher": _t([[1.0, 2.0, 3.0]])}
    other = {"Student": _t([[3.0, 2.0, 1.0]]), "Teacher": _t([[1.0, 2.0, 3.0]])}
    label = paddle.to_tensor([[2]])
    for name in ("DistillationDMLLoss", "DistillationKLDivLoss"):
        loss = _loss(name, model_name_pairs=[["Student", "Teacher"]])
        assert float(loss(same, label)) == pytest.approx(0.0, abs=1e-6)
        assert float(loss(other, label)) > 0.1


def test_distillation_losses_match_hand_computed_values():
    import paddle

    s, t = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.0]])
    out = {"Student": _t(s), "Teacher": _t(t)}
    softmax = lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)  # noqa: E731
    ps, pt = softmax(s), softmax(t)
    ce = -(pt * np.log(ps)).sum()
    assert float(_loss("DistillationCELoss", model_name_pairs=[["Student", "Teacher"]])(out, None)) == pytest.approx(ce, rel=1e-5)
    gt = -np.log(ps[0, 0]) - np.log(pt[0, 0])
    assert float(_loss("DistillationGTCELoss", model_names=["Student", "Teacher"])(out, paddle.to_tensor([[0]]))) \
        == pytest.approx(gt, rel=1e-5)
    kl = lambda p, q: (p * np.log(p / q)).sum()  # noqa: E731
    dml = (kl(pt, ps) + kl(ps, pt)) / 2 * 3 / 3  # PaddleClas: times class_num, mean over the classes
    assert float(_loss("DistillationDMLLoss", model_name_pairs=[["Student", "Teacher"]])(out, None)) == pytest.approx(dml, rel=1e-4)
    T = 4.0
    kd = kl(softmax(t / T), softmax(s / T)) * T * T
    assert float(_loss("DistillationKLDivLoss", model_name_pairs=[["Student", "Teacher"]])(out, None)) == pytest.approx(kd, rel=1e-4)


def test_googlenet_three_heads_loss_metric_and_deployed_head():
    import paddle

    model = models.build_model(arch({"name": "GoogLeNet", "class_num": 3}))
    model.eval()
    x = paddle.to_tensor(np.random.RandomState(0).rand(2, 3, 224, 224).astype("float32"))
    with paddle.no_grad():
        outs = model(x)
        deployed = models.inference_network(model)(x)
    assert len(outs) == 3
    np.testing.assert_allclose(deployed.numpy(), outs[0].numpy(), rtol=1e-6)
    label = paddle.to_tensor([[0], [2]])
    ce = _loss("CELoss")
    expected = float(ce(outs[0], label)) + 0.3 * float(ce(outs[1], label)) + 0.3 * float(ce(outs[2], label))
    assert float(_loss("GoogLeNetLoss")(outs, label)) == pytest.approx(expected, rel=1e-5)
    from ppslim.train.metrics import METRICS

    metric = METRICS["GoogLeNetTopkAcc"](topk=[1])
    metric.update([o.numpy() for o in outs], np.array([0, 2]))
    assert metric.result()["top1"] == float(np.mean(outs[0].numpy().argmax(1) == np.array([0, 2])))


def test_return_patterns_outputs_a_dict_and_the_deployed_network_its_logits():
    """PaddleClas's UDML configs ask members for stage outputs (``return_patterns``, a TheseusLayer key)."""
    import paddle

    model = models.build_model(arch({"name": "PPLCNet_x0_25", "class_num": 4, "return_patterns": ["blocks3"]}))
    model.eval()
    x = paddle.to_tensor(np.random.RandomState(0).rand(2, 3, 64, 64).astype("float32"))
    with paddle.no_grad():
        out = model(x)
        deployed = models.inference_network(model)(x)
    assert set(out) == {"logits", "blocks3"}
    np.testing.assert_allclose(deployed.numpy(), out["logits"].numpy(), rtol=1e-6)
    label = paddle.to_tensor([[0], [3]])
    assert float(_loss("CELoss")(out, label)) == pytest.approx(float(_loss("CELoss")(out["logits"], label)))
    dml = _loss("DistillationDMLLoss", model_name_pairs=[["Student", "Teacher"]], key="blocks3")
    assert float(dml({"Student": out, "Teacher": out}, label)) == pytest.approx(0.0, abs=1e-6)


def test_distillation_loss_on_a_plain_network_is_one_line():
    with pytest.raises(ConfigError, match="needs Arch.name: DistillationModel"):
        _loss("DistillationCELoss", model_name_pairs=[["Student", "Teacher"]])(_t([[1.0, 2.0]]), None)


def test_distillation_topk_acc_reads_the_named_member():
    from ppslim.train.metrics import METRICS

    labels = np.array([0, 1])
    outputs = {"Student": np.array([[1.0, 0.0], [1.0, 0.0]]), "Teacher": np.array([[1.0, 0.0], [0.0, 1.0]])}
    for key, top1 in (("Student", 0.5), ("Teacher", 1.0)):
        metric = METRICS["DistillationTopkAcc"](model_key=key, topk=[1])
        metric.update(outputs, labels)
        assert metric.result() == {"top1": top1}
    with pytest.raises(ConfigError, match="'Pupil' not in the model's outputs"):
        METRICS["DistillationTopkAcc"](model_key="Pupil", topk=[1]).update(outputs, labels)


def test_distillation_loss_and_metric_validate_in_config():
    cfg = config.from_dict({"Arch": DISTILL, "Loss": {"Train": [
        {"DistillationGTCELoss": {"weight": 1.0, "model_names": ["Student"]}},
        {"DistillationDMLLoss": {"weight": 1.0, "model_name_pairs": [["Student", "Teacher"]]}}]},
        "Metric": {"Eval": [{"DistillationTopkAcc": {"model_key": "Teacher", "topk": [1, 5]}}]}})
    assert [s.name for s in cfg.Loss.Train] == ["DistillationGTCELoss", "DistillationDMLLoss"]


def test_prune_refuses_a_distillation_model_before_work():
    from ppslim.stages import prune

    cfg = config.from_dict({"Arch": DISTILL, "Slim": {"prune": {"name": "fpgm"}}})
    with pytest.raises(ConfigError, match="^Arch.name: pruning a DistillationModel is not supported"):
        prune.run(cfg)


def test_logit_distillation_losses_dkd_wsl_skd_dist():
    import paddle

    same = {"Student": _t([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]), "Teacher": _t([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])}
    other = {"Student": _t([[3.0, 2.0, 1.0], [0.0, 1.0, 0.0]]), "Teacher": same["Teacher"]}
    label = paddle.to_tensor([[2], [0]])
    pair = {"model_name_pairs": [["Student", "Teacher"]]}
    for name in ("DistillationDKDLoss", "DistillationDISTLoss"):  # both vanish when the student copies the teacher
        assert float(_loss(name, **pair)(same, label)) == pytest.approx(0.0, abs=1e-5), name
        assert float(_loss(name, **pair)(other, label)) > 0.05, name
    # WSL by hand: T^2 * mean(softCE_T(s, t) * (1 - exp(-CE(s)/CE(t)))).
    s, t, y, T = other["Student"].numpy(), other["Teacher"].numpy(), np.array([2, 0]), 2.0
    logsm = lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))  # noqa: E731
    ce_s, ce_t = -logsm(s)[np.arange(2), y], -logsm(t)[np.arange(2), y]
    kd = -(np.exp(logsm(t / T)) * logsm(s / T)).sum(1)
    expected = T * T * np.mean(kd * (1 - np.exp(-np.maximum(ce_s / (ce_t + 1e-7), 0))))
    assert float(_loss("DistillationWSLLoss", **pair)(other, label)) == pytest.approx(expected, rel=1e-5)
    # SKD: alpha weighs KD against CE, so alpha=0 is plain CE on the normalised student logits.
    skd_kd, skd_ce = (float(_loss("DistillationSKDLoss", alpha=a, **pair)(other, label)) for a in (1.0, 0.0))
    assert skd_kd != pytest.approx(skd_ce)
    with pytest.raises(ConfigError, match="cannot follow a Mixup"):
        _loss("DistillationDKDLoss", **pair)(other, (label, label, 0.5))
