"""PaddleClas's transform/batch ops, samplers and datasets in ppslim: seeded pixels, keys that change
behaviour, one-line refusals, and the HWC -> CHW dataset contract (real images, real Paddle)."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest

from ppslim import config, data
from ppslim.config import OpSpec
from ppslim.data.ops import BATCH_TRANSFORMS, TRANSFORMS, build_transforms
from ppslim.errors import ConfigError


def _image(h: int = 48, w: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 6, yy * 5, (xx + yy) * 3], -1).astype("uint8")


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def run(op, x, seed: int):
    """``op(x)`` after seeding Python's and numpy's RNGs, as ``engine.seed_everything`` does."""
    random.seed(seed)
    np.random.seed(seed)
    return np.asarray(op(x.copy() if isinstance(x, np.ndarray) else x))


def build(name: str, **params):
    return TRANSFORMS[name](**params)


# ------------------------------------------------------------------------------- seeded augmentations
RANDOM_OPS = [
    ("RandCropImage", {"size": 32}),
    ("RandCropImage", {"size": [32, 24], "use_log_aspect": True, "backend": "pil", "interpolation": "bicubic"}),
    ("RandCropImage", {"size": 32, "scale": [0.05, 1.0], "interpolation": "random"}),
    ("RandFlipImage", {"flip_code": 1}),
    ("RandFlipImage", {"flip_code": -1}),
    ("AutoAugment", {}),
    ("RandAugment", {"num_layers": 2, "magnitude": 5}),
    ("RandAugmentV3", {"num_layers": 2, "interpolation": "bicubic"}),
    ("TimmAutoAugment", {"config_str": "rand-m9-mstd0.5-inc1", "interpolation": "bicubic", "img_size": 40}),
    ("TimmAutoAugment", {"config_str": "rand-m7-n3-w0", "interpolation": "random", "mean": [0.5, 0.5, 0.5]}),
    ("RandomErasing", {"EPSILON": 1.0, "sl": 0.02, "sh": "1.0/3.0", "r1": 0.3, "attempt": 10,
                       "use_log_aspect": True, "mode": "pixel"}),
    ("RandomErasing", {"EPSILON": 1.0, "mode": "const", "mean": [0, 0, 0]}),
    ("Cutout", {"n_holes": 2, "length": 12}),
    ("GridMask", {"d1": 8, "d2": 20, "rotate": 1, "ratio": 0.5, "mode": 0}),
    ("HideAndSeek", {}),
    ("ColorJitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}),
]
FLOAT_OPS = [("PCALighting", {})]  # ops whose output is float32 by PaddleClas's definition


@pytest.mark.parametrize("name, params", FLOAT_OPS)
def test_float_augmentation_is_seeded(name, params):
    img = _image()
    op = build(name, **params)
    a, b, c = run(op, img, 0), run(op, img, 0), run(op, img, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and a.dtype == np.float32 and a.shape == img.shape
    assert not np.array_equal(a, img.astype("float32"))


@pytest.mark.parametrize("name, params", RANDOM_OPS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RANDOM_OPS)])
def test_augmentation_changes_pixels_deterministically_under_a_seed(name, params):
    img = _image()
    op = build(name, **params)
    outs = [run(op, img, seed) for seed in range(8)]
    np.testing.assert_array_equal(run(op, img, 3), outs[3])  # same seed, same pixels
    assert len({o.tobytes() for o in outs}) > 1, "different seeds never gave different pixels"
    assert any(o.shape != img.shape or not np.array_equal(o, img) for o in outs), "the op never changed the image"
    for o in outs:
        assert o.dtype == np.uint8 and o.ndim == 3 and o.shape[2] == 3
        expected = tuple(params["size"][::-1]) if isinstance(params.get("size"), list) else (
            (params["size"],) * 2 if "size" in params else img.shape[:2])
        assert o.shape[:2] == expected


def test_augmentations_leave_the_input_array_alone():
    img = _image()
    before = img.copy()
    for name, params in RANDOM_OPS:
        build(name, **params)(img)
        np.testing.assert_array_equal(img, before, err_msg=name)


# ------------------------------------------------------------------------------- keys change behaviour
def test_decode_backends_and_to_rgb_to_np():
    img = _image()
    png = _png(img)
    np.testing.assert_array_equal(build("DecodeImage")(png), img)                       # cv2, RGB
    np.testing.assert_array_equal(build("DecodeImage", backend="pil")(png), img)        # pil, RGB
    np.testing.assert_array_equal(build("DecodeImage", to_rgb=False)(png), img[:, :, ::-1])  # BGR, PaddleClas's
    assert build("DecodeImage", channel_first=True)(png).shape == (3, 48, 40)
    from PIL import Image

    assert isinstance(build("DecodeImage", to_np=False, backend="pil")(png), Image.Image)
    bgr = build("DecodeImage", to_np=False, backend="cv2")(png)   # cv2 without to_np: BGR, to_rgb unused
    np.testing.assert_array_equal(bgr, img[:, :, ::-1])
    # A PIL image flows through PaddleClas's PIL-aware ops.
    pil = build("DecodeImage", to_np=False, backend="pil")(png)
    out = build("ResizeImage", resize_short=20, backend="pil", interpolation="bicubic")(pil)
    assert out.shape == (24, 20, 3)


def test_resize_keys():
    img = _image()
    assert build("ResizeImage", resize_short=20)(img).shape == (24, 20, 3)     # short side, rounded
    assert build("ResizeImage", size=[30, 20])(img).shape == (20, 30, 3)      # [w, h]
    cv2_cubic = build("ResizeImage", size=17, interpolation="bicubic")(img)
    pil_cubic = build("ResizeImage", size=17, interpolation="bicubic", backend="pil")(img)
    cv2_near = build("ResizeImage", size=17, interpolation="nearest")(img)
    assert not np.array_equal(cv2_cubic, pil_cubic) and not np.array_equal(cv2_cubic, cv2_near)
    from PIL import Image

    assert isinstance(build("ResizeImage", size=17, backend="pil", return_numpy=False)(img), Image.Image)


def test_rand_crop_keys_change_the_crop():
    img = _image(64, 64)
    plain = run(build("RandCropImage", size=32), img, 5)
    assert not np.array_equal(plain, run(build("RandCropImage", size=32, use_log_aspect=True), img, 5))
    assert not np.array_equal(plain, run(build("RandCropImage", size=32, backend="pil"), img, 5))
    assert not np.array_equal(plain, run(build("RandCropImage", size=32, scale=[0.9, 1.0]), img, 5))
    assert not np.array_equal(plain, run(build("RandCropImage", size=32, interpolation="nearest"), img, 5))


def test_crop_flip_normalize():
    img = _image()
    np.testing.assert_array_equal(build("CropImage", size=[20, 10])(img), img[19:29, 10:30])
    flips = {code: [run(build("RandFlipImage", flip_code=code), img, s) for s in range(6)] for code in (1, 0, -1)}
    assert any(np.array_equal(o, img[:, ::-1]) for o in flips[1])
    assert any(np.array_equal(o, img[::-1]) for o in flips[0])
    assert any(np.array_equal(o, img[::-1, ::-1]) for o in flips[-1])
    norm = build("NormalizeImage", scale="1.0/255.0", mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], order="")(img)
    np.testing.assert_allclose(norm, img / 127.5 - 1.0, atol=1e-5)
    four = build("NormalizeImage", order="hwc", channel_num=4)(img)
    assert four.shape == (48, 40, 4) and not four[:, :, 3].any()
    chw = build("NormalizeImage", order="chw")(img.transpose(2, 0, 1))
    np.testing.assert_allclose(chw.transpose(1, 2, 0), build("NormalizeImage", order="")(img), atol=1e-6)
    assert build("ToCHWImage")(img).shape == (3, 48, 40)


def test_augmentation_keys_change_pixels():
    img = _image()

    def differs(a: dict, b: dict, name: str) -> bool:
        """Under the same seeds, do the two settings ever give different pixels?"""
        return any(not np.array_equal(run(build(name, **a), img, seed), run(build(name, **b), img, seed))
                   for seed in range(6))

    assert differs({"config_str": "rand-m9-mstd0.5-inc1"}, {"config_str": "rand-m3-mstd0.5-inc1"}, "TimmAutoAugment")
    assert differs({"config_str": "rand-m9-n2"}, {"config_str": "rand-m9-n4"}, "TimmAutoAugment")
    assert differs({"prob": 1.0}, {"prob": 0.0}, "TimmAutoAugment")
    assert differs({"magnitude": 9}, {"magnitude": 2}, "RandAugment")
    assert differs({"num_layers": 1}, {"num_layers": 3}, "RandAugmentV3")
    assert differs({"EPSILON": 1.0, "mode": "const"}, {"EPSILON": 1.0, "mode": "pixel"}, "RandomErasing")
    assert not differs({"EPSILON": 0.0}, {"EPSILON": 0.0, "mode": "pixel"}, "RandomErasing")
    np.testing.assert_array_equal(run(build("RandomErasing", EPSILON=0.0), img, 1), img)
    assert differs({"length": 8}, {"length": 20}, "Cutout")
    assert differs({"mode": 0, "d1": 8, "d2": 20}, {"mode": 1, "d1": 8, "d2": 20}, "GridMask")
    np.testing.assert_array_equal(run(build("GridMask", prob=0.0), img, 1), img)
    assert differs({"brightness": 0.8}, {"contrast": 0.8}, "ColorJitter")
    np.testing.assert_array_equal(run(build("ColorJitter", prob=0.0, brightness=0.8), img, 1), img)


def test_erasing_fills_mean_box():
    img = _image().astype("float32")
    out = run(build("RandomErasing", EPSILON=1.0, mean=[-7.0, -7.0, -7.0]), img, 0)
    erased = (out == -7.0).all(axis=2)
    ys, xs = np.nonzero(erased)
    assert erased.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # one box
    assert 0.02 * 48 * 40 * 0.8 <= erased.sum() <= 0.4 * 48 * 40 * 1.2


# ------------------------------------------------------------------------------- parameter errors name the key
@pytest.mark.parametrize("op, key", [
    ("{DecodeImage: {backend: opencv}}", "DecodeImage.backend"),
    ("{ResizeImage: {size: 32, interpolation: box}}", "ResizeImage.interpolation"),  # box is PIL-only
    ("{ResizeImage: {size: [1, 2, 3]}}", "ResizeImage.size"),
    ("{RandCropImage: {size: 32, progress_size: [16, 32]}}", "RandCropImage.progress_size"),
    ("{RandCropImage: {size: 32, scale: [0.9, 0.1]}}", "RandCropImage.scale"),
    ("{RandFlipImage: {flip_code: 2}}", "RandFlipImage.flip_code"),
    ("{NormalizeImage: {order: '', output_fp16: true}}", "NormalizeImage.output_fp16"),
    ("{NormalizeImage: {order: '', channel_num: 5}}", "NormalizeImage.channel_num"),
    ("{NormalizeImage: {order: '', scale: one/255}}", "NormalizeImage.scale"),
    ("{TimmAutoAugment: {config_str: null}}", "TimmAutoAugment.config_str"),
    ("{TimmAutoAugment: {config_str: augmix-m5-w4-d2}}", "TimmAutoAugment.config_str"),
    ("{TimmAutoAugment: {config_str: rand-m9-x3}}", "TimmAutoAugment.config_str"),
    ("{RandAugment: {magnitude: 11}}", "RandAugment.magnitude"),
    ("{RandomErasing: {EPSILON: 2}}", "RandomErasing.EPSILON"),
    ("{RandomErasing: {sh: 1.0/0}}", "RandomErasing.sh"),
    ("{RandomErasing: {mode: noise}}", "RandomErasing.mode"),
    ("{Cutout: {length: 0}}", "Cutout.length"),
    ("{GridMask: {d1: 96, d2: 50}}", "GridMask.d2"),
    ("{ColorJitter: {hue: 0.7}}", "ColorJitter.hue"),
    ("{RandomErasing: {epsilon: 0.5}}", "RandomErasing.epsilon"),   # unknown parameter (case matters)
])
def test_bad_op_parameter_is_refused_at_load_naming_the_key(make_config, op, key):
    with pytest.raises(ConfigError) as info:
        make_config(f"DataLoader.Train.dataset.transform_ops.1={op}")
    assert info.value.key_path == f"DataLoader.Train.dataset.transform_ops.1.{key}", info.value
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("override, key, text", [
    ("DataLoader.Train.dataset.transform_ops.2={ToCHWImage: null}", "transform_ops.2.ToCHWImage",
     "transpose twice"),
    ("DataLoader.Train.dataset.transform_ops.2={NormalizeImage: {scale: 1.0/255.0}}", "transform_ops.2.NormalizeImage.order",
     "'chw'"),
    ("DataLoader.Train.dataset.transform_ops.0={DecodeImage: {channel_first: true}}",
     "transform_ops.0.DecodeImage.channel_first", "HWC"),
    ("DataLoader.Train.dataset.transform_ops.1={AugMix: {prob: 0.5}}", "transform_ops.1", "does not implement"),
    ("DataLoader.Train.dataset.batch_transform_ops=[{FmixOperator: {}}]", "batch_transform_ops.0", "does not implement"),
    ("DataLoader.Train.dataset.name=CompCars", "name", "re-identification"),
    ("DataLoader.Train.sampler.name=PKSampler", "name", "metric learning"),
    ("DataLoader.Train.sampler.scales=[32]", "scales", "only MultiScaleSampler"),
    ("DataLoader.Train.sampler.num_repeats=2", "num_repeats", "only RASampler"),
    ("DataLoader.Train.dataset.name=MultiScaleDataset", "name", "needs MultiScaleSampler"),
])
def test_paddleclas_values_ppslim_does_not_do_are_refused_in_one_line(make_config, override, key, text):
    with pytest.raises(ConfigError) as info:
        make_config(override)
    split = "DataLoader.Train.sampler." if ".sampler." in override and "dataset.name" not in override else \
        "DataLoader.Train.dataset."
    assert info.value.key_path == split + key, info.value
    assert text in info.value.msg and "\n" not in str(info.value)


def test_infer_transforms_keep_to_chw(make_config, digits_dir):
    cfg = make_config()
    assert cfg.Infer.transforms[-1].name == "ToCHWImage"
    img = data.build_infer_transform(cfg)((digits_dir / "images" / "3" / "0003.png").read_bytes())
    assert img.shape == (3, 32, 32)
    fallback = make_config("Infer.transforms=[]")
    np.testing.assert_array_equal(data.build_infer_transform(fallback)(
        (digits_dir / "images" / "3" / "0003.png").read_bytes()), img)


def test_relabel_maps_labels_to_0_k(make_config, tmp_path, digits_dir):
    listing = tmp_path / "list.txt"
    listing.write_text("images/3/0003.png 30\nimages/7/0007.png 70\nimages/1/0001.png 10\n")
    kw = [f"DataLoader.Eval.dataset.cls_label_path={listing}"]
    assert [lab for _, lab in data.check_dataset(make_config(*kw), "Eval")] == [30, 70, 10]
    relabelled = data.check_dataset(make_config(*kw, "DataLoader.Eval.dataset.relabel=true"), "Eval")
    assert [lab for _, lab in relabelled] == [1, 2, 0]


# ------------------------------------------------------------------------------- batch ops
def _batch(n: int = 8, size: int = 16):
    rs = np.random.RandomState(0)
    return rs.rand(n, 3, size, size).astype("float32"), np.arange(n, dtype="int64")


def test_mixup_and_cutmix_are_seeded_and_mix_as_specified():
    images, labels = _batch()
    for name, params in (("MixupOperator", {"alpha": 0.4}), ("CutmixOperator", {"alpha": 1.0})):
        op = BATCH_TRANSFORMS[name](**params)
        a = op(images, labels, np.random.RandomState(1))
        b = op(images, labels, np.random.RandomState(1))
        c = op(images, labels, np.random.RandomState(2))
        np.testing.assert_array_equal(a[0], b[0])
        assert a[3] == b[3] and not np.array_equal(a[0], c[0])
        assert a[0].shape == images.shape and a[0].dtype == np.float32
        np.testing.assert_array_equal(a[1], labels)
        assert sorted(a[2].tolist()) == labels.tolist() and 0.0 <= a[3] <= 1.0
    mixed, la, lb, lam = BATCH_TRANSFORMS["MixupOperator"](alpha=0.4)(images, labels, np.random.RandomState(1))
    np.testing.assert_allclose(mixed, lam * images + (1 - lam) * images[lb], rtol=1e-5)
    cut, la, lb, lam = BATCH_TRANSFORMS["CutmixOperator"](alpha=1.0)(images, labels, np.random.RandomState(3))
    pasted = ~np.isclose(cut, images).all(axis=(0, 1))  # H x W: where any image got another's pixels
    ys, xs = np.nonzero(pasted)
    assert 0 < pasted.sum() < 16 * 16 and pasted.sum() == (ys.ptp() + 1) * (xs.ptp() + 1)  # one box
    assert lam == pytest.approx(1 - pasted.sum() / 256.0)  # lam = the unpasted share
    box = (slice(None), slice(None), slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    np.testing.assert_array_equal(cut[box], images[lb][box])


def test_op_sampler_picks_by_prob():
    images, labels = _batch()
    always_cut = BATCH_TRANSFORMS["OpSampler"](CutmixOperator={"alpha": 1.0, "prob": 1.0})
    never = BATCH_TRANSFORMS["OpSampler"](MixupOperator={"alpha": 1.0, "prob": 0.0})
    out = never(images, labels, np.random.RandomState(0))
    assert out[0] is images and out[3] == 1.0
    both = BATCH_TRANSFORMS["OpSampler"](MixupOperator={"alpha": 0.2, "prob": 0.5},
                                        CutmixOperator={"alpha": 1.0, "prob": 0.5})
    rng = np.random.RandomState(0)
    kinds = set()
    for _ in range(20):
        mixed = both(images, labels, rng)[0]
        moved = ~np.isclose(mixed, images)
        kinds.add("mixup" if moved.mean() > 0.9 else "cutmix")
    assert kinds == {"mixup", "cutmix"}
    assert not np.array_equal(always_cut(images, labels, np.random.RandomState(0))[0], images)


@pytest.mark.parametrize("ops, key", [
    ("{OpSampler: {MixupOperator: {alpha: 0.2}}}", "OpSampler.MixupOperator.prob"),
    ("{OpSampler: {MixupOperator: {alpha: 0.2, prob: 0.7}, CutmixOperator: {alpha: 1.0, prob: 0.7}}}", "OpSampler"),
    ("{OpSampler: {FmixOperator: {prob: 0.5}}}", "OpSampler.FmixOperator"),
    ("{OpSampler: {CutmixOperator: {alpha: -1, prob: 0.5}}}", "OpSampler.CutmixOperator.alpha"),
    ("{CutmixOperator: {alpha: 0}}", "CutmixOperator.alpha"),
])
def test_batch_op_errors_name_the_key(make_config, ops, key):
    with pytest.raises(ConfigError) as info:
        make_config(f"DataLoader.Train.dataset.batch_transform_ops=[{ops}]")
    assert info.value.key_path == f"DataLoader.Train.dataset.batch_transform_ops.0.{key}", info.value


def test_celoss_takes_a_mixed_target():
    import paddle

    from ppslim.train.losses import CELoss

    logits = paddle.to_tensor(np.random.RandomState(0).randn(4, 10).astype("float32"))
    a, b = paddle.to_tensor(np.array([1, 2, 3, 4])), paddle.to_tensor(np.array([5, 6, 7, 8]))
    loss = CELoss(epsilon=0.1)
    mixed = float(loss(logits, (a, b, 0.3)))
    assert mixed == pytest.approx(0.3 * float(loss(logits, a)) + 0.7 * float(loss(logits, b)), rel=1e-5)


# ------------------------------------------------------------------------------- MultiScaleSampler
def test_multi_scale_sampler_batch_shapes(make_config):
    cfg = make_config("DataLoader.Train.dataset.name=MultiScaleDataset",
                      "DataLoader.Train.dataset.transform_ops.1={RandCropImage: {size: 32}}",
                      "DataLoader.Train.sampler={name: MultiScaleSampler, scales: [32, 48, [64, 32]], first_bs: 36,"
                      " divided_factor: 16, is_training: true}")
    loader = data.build_loader(cfg, "Train")
    sizes = {(w, h, bs) for w, h, bs in loader.sampler.sizes}
    assert sizes == {(32, 32, 36), (48, 48, 16), (64, 32, 18)}  # w * h * bs kept at 32 * 32 * 36
    seen = set()
    for step, (images, labels) in enumerate(loader.loader):
        n, c, h, w = images.shape
        assert c == 3 and (w, h, n) in sizes and labels.shape[0] == n
        seen.add((w, h))
        if step == 12:
            break
    assert len(seen) > 1
    assert sum(bs for _, _, bs in loader.sampler.batches) >= len(loader.dataset)
    assert loader.dataset[0][0].shape == (3, 32, 32)  # a plain index (PTQ calibration): the first scale


def test_multi_scale_eval_uses_the_first_scale(make_config):
    cfg = make_config("DataLoader.Eval.dataset.name=MultiScaleDataset",
                      "DataLoader.Eval.sampler={name: MultiScaleSampler, scales: [40, 64], first_bs: 8,"
                      " is_training: false, shuffle: false}")
    loader = data.build_loader(cfg, "Eval")
    assert loader.sampler.sizes == [(40, 40, 8)]
    images, _ = next(iter(loader.loader))
    assert list(images.shape) == [8, 3, 40, 40]
    assert data.real_images(cfg, 2)[0].shape == (2, 3, 40, 40)


def test_paddleclas_config_shapes_validate():
    """Every op and parameter value the 364 PaddleClas configs use with these ops, in one list."""
    raw = {"DataLoader": {"Train": {"dataset": {"name": "ImageNetDataset", "image_root": ".", "cls_label_path": "x",
        "transform_ops": [
            {"DecodeImage": {"to_rgb": True, "channel_first": False, "backend": "pil", "to_np": True}},
            {"RandCropImage": {"size": 224, "interpolation": "random", "backend": "pil", "use_log_aspect": True,
                               "scale": [0.05, 1.0]}},
            {"RandFlipImage": {"flip_code": 1}},
            {"TimmAutoAugment": {"config_str": "rand-m9-inc1-mstd1.0", "interpolation": "random", "img_size": 224,
                                 "mean": [0.5, 0.5, 0.5]}},
            {"AutoAugment": None}, {"RandAugment": {"num_layers": 2, "magnitude": 5}},
            {"RandAugmentV3": {"num_layers": 2, "interpolation": "bicubic"}},
            {"ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0}},
            {"ResizeImage": {"resize_short": 256, "interpolation": "bicubic", "backend": "pil"}},
            {"CropImage": {"size": 224}},
            {"NormalizeImage": {"scale": 0.00392157, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                                "order": "hwc", "channel_num": 4}},
            {"RandomErasing": {"EPSILON": 0.25, "sl": 0.02, "sh": "1.0/3.0", "r1": 0.3, "attempt": 10,
                               "use_log_aspect": True, "mode": "pixel"}},
            {"Cutout": {"n_holes": 1, "length": 112}}, {"HideAndSeek": None},
            {"GridMask": {"d1": 96, "d2": 224, "rotate": 1, "ratio": 0.5, "mode": 0}}],
        "batch_transform_ops": [{"OpSampler": {"MixupOperator": {"alpha": 0.8, "prob": 0.5},
                                               "CutmixOperator": {"alpha": 1.0, "prob": 0.5}}}]}}},
        "Infer": {"transforms": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                 {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
                                 {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                                                     "std": [0.229, 0.224, 0.225], "order": ""}},
                                 {"ToCHWImage": None}]}}
    cfg = config.from_dict(raw)
    assert [op.name for op in cfg.DataLoader.Train.dataset.transform_ops][-1] == "GridMask"
    ops = build_transforms(cfg.DataLoader.Train.dataset.transform_ops[:11], "ops")
    random.seed(0)
    np.random.seed(0)
    out = ops(_png(_image(300, 260)))
    assert out.shape == (224, 224, 4) and out.dtype == np.float32
    assert isinstance(build_transforms([OpSpec("DecodeImage", {})], "x").ops[0], TRANSFORMS["DecodeImage"])


def test_loader_workers_are_seeded_from_global_seed_and_epoch(make_overrides, tmp_path):
    """With ``num_workers`` > 0 the ops run in worker processes: their RNGs come from Global.seed,
    the rank, the worker id and the epoch (PaddleClas's worker_init_fn plus the epoch).

    Run in a child process: paddle's DataLoader workers install a process-wide SIGCHLD handler that
    later crashes the test process when an unrelated subprocess exits."""
    import subprocess
    import sys

    from tests.conftest import DIGITS_CONFIG, REPO

    def first_batch(seed: int, epoch: int = 1) -> np.ndarray:
        out = tmp_path / f"batch_{seed}_{epoch}.npy"
        overrides = make_overrides(tmp_path, "DataLoader.Train.loader.num_workers=2", f"Global.seed={seed}",
                                   "DataLoader.Train.dataset.transform_ops.1={RandCropImage: {size: 32}}")
        code = ("import sys, numpy as np; from ppslim import config, data; from ppslim.train.engine import seed_everything\n"
                "cfg = config.load(sys.argv[1], sys.argv[4:]); seed_everything(int(sys.argv[2]))\n"
                "loader = data.build_loader(cfg, 'Train', shuffle=False); loader.set_epoch(int(sys.argv[3]))\n"
                f"np.save({str(out)!r}, next(iter(loader.loader))[0].numpy())\n")
        proc = subprocess.run([sys.executable, "-c", code, str(DIGITS_CONFIG), str(seed), str(epoch), *overrides],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return np.load(out)

    a = first_batch(1)
    np.testing.assert_array_equal(a, first_batch(1))
    assert not np.array_equal(a, first_batch(2))
    assert not np.array_equal(a, first_batch(1, epoch=2))


@pytest.mark.parametrize("override, key", [
    ("Infer.transforms.3={CropImage: {size: 32}}", "Infer.transforms"),              # no ToCHWImage at the end
    ("Infer.transforms.2={NormalizeImage: {scale: 1.0/255.0}}", "Infer.transforms.2.NormalizeImage.order"),
    ("Infer.transforms.0={DecodeImage: {channel_first: true}}", "Infer.transforms.2.NormalizeImage.order"),
])
def test_infer_transforms_follow_the_layout(make_config, override, key):
    with pytest.raises(ConfigError) as info:
        make_config(override)
    assert info.value.key_path == key, info.value


def test_ra_sampler_repeats_each_image(make_config):
    cfg = make_config("DataLoader.Train.sampler={name: RASampler, batch_size: 48, shuffle: true, drop_last: false}")
    loader = data.build_loader(cfg, "Train")
    loader.set_epoch(1)
    batches = list(loader.sampler)
    flat = [i for b in batches for i in b]
    assert len(flat) == 1438 // 256 * 256 == 1280 and len(batches) == len(loader) == 27
    assert flat[0] == flat[1] == flat[2] != flat[3]            # 3 repeats in a row
    assert len(set(flat)) == pytest.approx(1280 / 3, abs=1)
    loader.set_epoch(2)
    assert [i for b in loader.sampler for i in b] != flat      # reshuffled per epoch
    images, _ = next(iter(loader.loader))
    assert list(images.shape) == [48, 3, 32, 32]


def test_output_fp16_with_amp_o2_gives_float16_images(make_config, digits_dir):
    """PaddleClas's AMP O2 configs feed float16 images to the pure-fp16 network (``output_fp16``)."""
    from ppslim import data

    cfg = make_config("DataLoader.Train.dataset.transform_ops.2.NormalizeImage.output_fp16=true",
                      "AMP={use_amp: true, level: O2}")
    images, _ = data.real_images(cfg, 2, "Train")
    assert images.dtype == np.float16 and images.shape == (2, 3, 32, 32)
    plain, _ = data.real_images(make_config(), 2, "Train")
    assert plain.dtype == np.float32
    np.testing.assert_allclose(images.astype("float32"), plain, atol=2e-3)
