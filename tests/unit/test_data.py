"""Digits writer, ImageNetDataset list reader, and the PaddleClas transform ops (real PNGs, real Paddle)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ppslim import data
from ppslim.data.digits import write_digits
from ppslim.data.transforms import build_transforms, parse_scale
from ppslim.errors import ConfigError

from tests.conftest import REPO


def read_lines(path) -> list[str]:
    return open(path, encoding="utf-8").read().splitlines()


# ------------------------------------------------------------------------------- digits writer
def test_digits_layout_and_split_sizes(digits_dir):
    pngs = [os.path.join(d, f) for d, _, files in os.walk(digits_dir / "images") for f in files]
    assert len(pngs) == 1797 and all(p.endswith(".png") for p in pngs)
    train, val = read_lines(digits_dir / "train_list.txt"), read_lines(digits_dir / "val_list.txt")
    assert (len(train), len(val)) == (1438, 359)
    train_paths, val_paths = {line.split()[0] for line in train}, {line.split()[0] for line in val}
    assert not train_paths & val_paths
    assert len(train_paths | val_paths) == 1797
    for line in train + val:  # ImageNetDataset layout: "images/<class>/<index>.png <class>"
        rel, label = line.split(" ")
        assert rel.startswith(f"images/{label}/") and (digits_dir / rel).is_file()
    assert {line.split()[1] for line in val} == {str(c) for c in range(10)}
    assert not list(digits_dir.parent.glob(".*tmp-*")), "atomic write left a temp dir"


def test_digits_label_list_format(digits_dir):
    assert read_lines(digits_dir / "label_list.txt") == [f"{c} digit_{c}" for c in range(10)]


def test_digits_pixels_match_sklearn(digits_dir):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in (0, 1, 1796):
        png = np.asarray(Image.open(digits_dir / "images" / str(digits.target[i]) / f"{i:04d}.png"))
        assert png.shape == (8, 8) and png.dtype == np.uint8
        np.testing.assert_array_equal(png, np.rint(digits.images[i] * 255.0 / 16.0).astype("uint8"))


def test_digits_split_deterministic_per_seed(tmp_path, digits_dir):
    again = write_digits(str(tmp_path / "again"))
    assert (again.train_images, again.val_images, again.classes) == (1438, 359, 10)
    for name in ("train_list.txt", "val_list.txt"):
        assert read_lines(tmp_path / "again" / name) == read_lines(digits_dir / name)
    write_digits(str(tmp_path / "other"), seed=1)
    assert read_lines(tmp_path / "other" / "val_list.txt") != read_lines(digits_dir / "val_list.txt")


def test_digits_rewrite_replaces_whole_folder(tmp_path):
    out = tmp_path / "digits"
    write_digits(str(out))
    (out / "stale.txt").write_text("x")
    write_digits(str(out))
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]  # no .tmp-/.old- leftovers


# ------------------------------------------------------------------------------- reader errors
def test_missing_image_root_names_key(make_config, tmp_path):
    cfg = make_config(f"DataLoader.Train.dataset.image_root={tmp_path / 'nope'}")
    with pytest.raises(ConfigError) as info:
        data.check_dataset(cfg, "Train")
    assert info.value.key_path == "DataLoader.Train.dataset.image_root"
    assert str(tmp_path / "nope") in info.value.msg


def test_missing_label_list_names_key(make_config, tmp_path):
    cfg = make_config(f"DataLoader.Eval.dataset.cls_label_path={tmp_path / 'nope.txt'}")
    with pytest.raises(ConfigError) as info:
        data.check_dataset(cfg, "Eval")
    assert info.value.key_path == "DataLoader.Eval.dataset.cls_label_path"


def test_malformed_list_line_names_file_and_line(make_config, tmp_path, digits_dir):
    listing = tmp_path / "bad_list.txt"
    lines = read_lines(digits_dir / "val_list.txt")[:3]
    listing.write_text("\n".join([lines[0], lines[1], "images/0/0000.png", lines[2]]) + "\n")
    cfg = make_config(f"DataLoader.Eval.dataset.cls_label_path={listing}")
    with pytest.raises(ConfigError) as info:
        data.check_dataset(cfg, "Eval")
    assert info.value.key_path == "DataLoader.Eval.dataset.cls_label_path"
    assert f"{listing}:3:" in info.value.msg


def test_listed_image_missing_is_rejected(make_config, tmp_path, digits_dir):
    listing = tmp_path / "list.txt"
    listing.write_text("images/0/9999.png 0\n")
    cfg = make_config(f"DataLoader.Eval.dataset.cls_label_path={listing}")
    with pytest.raises(ConfigError) as info:
        data.check_dataset(cfg, "Eval")
    assert info.value.key_path == "DataLoader.Eval.dataset.image_root"
    assert "9999.png" in info.value.msg


def test_empty_list_is_rejected(make_config, tmp_path):
    listing = tmp_path / "empty.txt"
    listing.write_text("\n")
    with pytest.raises(ConfigError, match="lists no images"):
        data.check_dataset(make_config(f"DataLoader.Eval.dataset.cls_label_path={listing}"), "Eval")


def test_any_folder_in_the_layout_works(make_config, tmp_path, digits_dir):
    """A user's own folder in the same layout: nested paths, other file names, a custom delimiter."""
    import shutil

    root = tmp_path / "mine"
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(digits_dir / "images" / "7" / "0007.png", root / "a" / "b" / "seven.png")
    (root / "list.txt").write_text("a/b/seven.png\t7\n")
    cfg = make_config(f"DataLoader.Eval.dataset.image_root={root}",
                      f"DataLoader.Eval.dataset.cls_label_path={root / 'list.txt'}",
                      'DataLoader.Eval.dataset.delimiter="\\t"')
    assert data.check_dataset(cfg, "Eval") == [(str(root / "a" / "b" / "seven.png"), 7)]


# ------------------------------------------------------------------------------- transforms
def test_eval_transforms_give_chw_float32_of_configured_shape(make_config, digits_dir):
    """The dataset's pipeline: the ops (HWC, no ToCHWImage in the config), then CHW, as PaddleClas's."""
    cfg = make_config()
    hwc = build_transforms(cfg.DataLoader.Eval.dataset.transform_ops, "DataLoader.Eval.dataset.transform_ops")
    assert hwc((digits_dir / "images" / "0" / "0000.png").read_bytes()).shape == (32, 32, 3)
    transform = data.eval_transform(cfg, "Eval")
    img = transform((digits_dir / "images" / "0" / "0000.png").read_bytes())
    assert img.dtype == np.float32 and img.shape == tuple(cfg.Global.image_shape) == (3, 32, 32)
    assert -1.0 <= img.min() < img.max() <= 1.0  # scale 1/255, mean 0.5, std 0.5
    np.testing.assert_array_equal(img[0], img[1])  # grey digits decoded to_rgb


def test_resize_override_changes_shape(make_config, digits_dir):
    cfg = make_config("DataLoader.Eval.dataset.transform_ops.1.ResizeImage.size=[24, 20]")
    transform = data.eval_transform(cfg, "Eval")
    assert transform((digits_dir / "images" / "1" / "0001.png").read_bytes()).shape == (3, 20, 24)  # size is [w, h]


def test_train_ops_by_paddleclas_names(digits_dir):
    from ppslim.config import OpSpec

    ops = [OpSpec("DecodeImage", {"to_rgb": True}), OpSpec("ResizeImage", {"resize_short": 36}),
           OpSpec("RandCropImage", {"size": 32}), OpSpec("RandFlipImage", {"flip_code": 1}),
           OpSpec("CropImage", {"size": 28}), OpSpec("NormalizeImage", {"order": ""}), OpSpec("ToCHWImage", {})]
    img = build_transforms(ops, "ops")((digits_dir / "images" / "2" / "0002.png").read_bytes())
    assert img.shape == (3, 28, 28) and img.dtype == np.float32


def test_transform_error_names_the_op():
    from ppslim.config import OpSpec

    with pytest.raises(ConfigError) as info:
        build_transforms([OpSpec("DecodeImage", {}), OpSpec("NormalizeImage", {"order": "xyz"})], "Infer.transforms")
    assert info.value.key_path == "Infer.transforms.1.NormalizeImage.order"


@pytest.mark.parametrize("text, value", [("1.0/255.0", 1 / 255), ("1/255", 1 / 255), (0.5, 0.5), ("0.25", 0.25),
                                         (None, 1 / 255)])
def test_normalize_scale_as_fraction_string(text, value):
    assert parse_scale(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text", ["1.0/0", "one/255", "__import__('os')"])
def test_normalize_scale_rejects_non_numbers(text):
    with pytest.raises(ConfigError, match="NormalizeImage.scale"):
        parse_scale(text)


def test_yaml_scale_string_reaches_the_op(make_config):
    cfg = make_config()
    normalize = cfg.DataLoader.Train.dataset.transform_ops[2]
    assert normalize.name == "NormalizeImage" and normalize.params["scale"] == "1.0/255.0"
    op = build_transforms([normalize], "ops").ops[0]
    assert op.scale == pytest.approx(1 / 255)


def _decode_in_subprocess(first_import: str, digits_dir, i: int = 5) -> subprocess.CompletedProcess:
    """Decode digit ``i`` with ``DecodeImage`` in a fresh interpreter that runs ``first_import`` first."""
    from sklearn.datasets import load_digits

    label = int(load_digits().target[i])
    png = str(digits_dir / "images" / str(label) / f"{i:04d}.png")
    out = digits_dir.parent / f"decoded-{first_import.split()[-1]}.npy"
    script = textwrap.dedent(f"""
        {first_import}
        import numpy as np
        import paddle
        import ppslim
        from ppslim.data.transforms import DecodeImage
        img = DecodeImage(to_rgb=True)(open({png!r}, 'rb').read())
        np.save({str(out)!r}, img)
        print(img.shape, img.dtype)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        expected = np.rint(load_digits().images[i] * 255.0 / 16.0).astype("uint8")
        np.testing.assert_array_equal(np.load(out)[:, :, 0], expected)
    return proc


def test_png_decodes_when_ppslim_is_imported_first(digits_dir):
    """What every ``python -m ppslim`` stage does: ``ppslim`` binds the system zlib before paddle loads."""
    proc = _decode_in_subprocess("import ppslim", digits_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(8, 8, 3) uint8" in proc.stdout


def test_paddle_first_import_fails_loudly_not_with_a_segfault(digits_dir):
    """The incumbent crashed with libpng 'IDAT' errors, then a segfault, when paddle was imported
    before PNG decoding: libpaddle.so exports its own zlib. ppslim refuses that order with one line."""
    proc = _decode_in_subprocess("import paddle", digits_dir)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: import ppslim before paddle: paddle's bundled zlib breaks PNG decoding (and can "
        "segfault) in a process where it was loaded first")
