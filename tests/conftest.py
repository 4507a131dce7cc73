"""Shared fixtures: the digits data written once, configs pointed at temp dirs, one trained model.

Everything here runs real ppslim code (no mocks of Paddle). Building blocks, cheapest first:

``digits_dir``
    The digits data set (``ppslim.data.digits.write_digits``) written once per session.
``make_overrides(workdir, *extra)``
    ``-o`` strings that point the default digits config at ``digits_dir`` and send every output
    (``Global.output_dir``, ``Global.save_inference_dir``) under ``workdir``; ``extra`` come last
    and win. Use them for ``ppslim.config.load`` or for a ``python -m ppslim`` subprocess.
``make_config(*extra, workdir=None)``
    ``ppslim.config.load(DIGITS_CONFIG, overrides)`` with the above; ``workdir`` defaults to the
    test's own ``tmp_path``, so tests never share output folders.
``vision_model``
    A ``paddle.vision`` mobilenet_v2 (scale 0.5) trained briefly on the digits at 32x32 by a plain
    Paddle loop and saved by plain ``paddle.jit.save`` under its own names (``mbv2_digits.pdmodel``,
    input ``image``), once per session: "any model", with real logits for INT8 agreement checks.
    Read-only: copy it before writing beside it.
``trained_model``
    A DigitsNet trained for ``TRAINED_EPOCHS`` epochs and exported to a verified inference model,
    once per session (e2e only; ~15 s). Later stages (QAT, PTQ, prune, bench) start from it:
    ``make_config(*trained_model.overrides, ...)`` gives a config whose ``Global.pretrained_model``
    is its best checkpoint. Treat its folders as read-only and write your outputs elsewhere
    (``make_config`` does that by default).

Plain helpers for any test: ``data_overrides(dir)``, ``output_overrides(dir)``, ``run_cli(*args)``
(``python -m ppslim`` in a subprocess), ``REPO`` and ``DIGITS_CONFIG``. Import them as
``from tests.conftest import run_cli``. Tests under ``tests/e2e/`` are marked ``e2e`` automatically.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIGITS_CONFIG = REPO / "configs" / "digits" / "train.yaml"
# 5 epochs reach ~0.93 top-1 on the val split in ~7 s of training on a 2-core CPU.
TRAINED_EPOCHS = 5
# The vision model's brief training: steps of VISION_BATCH images; it must then beat VISION_MIN_TOP1 on val.
VISION_STEPS, VISION_BATCH, VISION_MIN_TOP1 = 40, 32, 0.4


def data_overrides(digits_dir: str | os.PathLike) -> list[str]:
    """``-o`` strings pointing both ``DataLoader`` splits at a digits folder."""
    root = str(digits_dir)
    out = []
    for split, listing in (("Train", "train_list.txt"), ("Eval", "val_list.txt")):
        out += [f"DataLoader.{split}.dataset.image_root={root}",
                f"DataLoader.{split}.dataset.cls_label_path={os.path.join(root, listing)}"]
    return out + [f"Infer.infer_imgs={os.path.join(root, 'images', '3')}",
                  f"Infer.PostProcess.class_id_map_file={os.path.join(root, 'label_list.txt')}"]


def output_overrides(workdir: str | os.PathLike) -> list[str]:
    """``-o`` strings sending every output of a stage under ``workdir``."""
    return [f"Global.output_dir={os.path.join(workdir, 'output')}",
            f"Global.save_inference_dir={os.path.join(workdir, 'inference')}"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m ppslim ARGS`` in a subprocess from the repo root; returns the finished process."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "ppslim", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """The digits data (1,797 PNGs + train/val/label lists), written once for the whole session."""
    from ppslim.data.digits import write_digits

    out = tmp_path_factory.mktemp("data") / "digits"
    write_digits(str(out))
    return out


@pytest.fixture
def make_overrides(digits_dir):
    """``make_overrides(workdir, *extra) -> list[str]``: data + output overrides, then ``extra``."""
    def make(workdir, *extra: str) -> list[str]:
        return [*data_overrides(digits_dir), *output_overrides(workdir), *extra]
    return make


@pytest.fixture
def make_config(make_overrides, tmp_path):
    """``make_config(*extra, workdir=None) -> Config`` for the digits config; outputs go to ``workdir``
    (default: this test's ``tmp_path``). Later overrides win, so ``extra`` can repoint anything."""
    from ppslim import config

    def make(*extra: str, workdir=None):
        return config.load(str(DIGITS_CONFIG), make_overrides(workdir or tmp_path, *extra))
    return make


@pytest.fixture(scope="session")
def vision_model(tmp_path_factory, digits_dir) -> str:
    """``paddle.vision.models.mobilenet_v2(num_classes=10, scale=0.5)`` trained for ``VISION_STEPS`` steps on
    the digits Train split at 32x32 (a plain Paddle loop, as a user's own training would be), then saved by plain
    ``paddle.jit.save`` as ``mbv2_digits.pdmodel`` / ``.pdiparams`` with input ``image`` [N, 3, 32, 32].

    A random-init network's logits are near-constant (~1e-7 apart), so INT8 agreement with them is noise that
    differs between CPUs; trained, they carry real margins. The val top-1 is checked here, so a model that did
    not learn fails the fixture instead of making the INT8 checks meaningless again."""
    import numpy as np
    import paddle
    from paddle.static import InputSpec

    from ppslim import config, data

    cfg = config.load(str(DIGITS_CONFIG), data_overrides(digits_dir))
    images, labels = data.real_images(cfg, None, "Train")
    labels = np.asarray(labels, dtype="int64")
    paddle.seed(0)
    net = paddle.vision.models.mobilenet_v2(num_classes=10, scale=0.5)
    lr = paddle.optimizer.lr.OneCycleLR(0.01, VISION_STEPS, phase_pct=0.2)
    opt = paddle.optimizer.Adam(lr, parameters=net.parameters())
    order = np.random.default_rng(0).permutation(np.resize(np.arange(len(images)), VISION_STEPS * VISION_BATCH))
    net.train()
    for step in range(VISION_STEPS):
        idx = order[step * VISION_BATCH:(step + 1) * VISION_BATCH]
        loss = paddle.nn.functional.cross_entropy(net(paddle.to_tensor(images[idx])), paddle.to_tensor(labels[idx]))
        loss.backward()
        opt.step()
        opt.clear_grad()
        lr.step()
    # so few steps leave BatchNorm's running statistics far behind the weights: re-estimate them at the final
    # weights as the plain mean over a few batches (momentum k/(k+1) averages batch k into the first k)
    norms = [layer for layer in net.sublayers() if isinstance(layer, paddle.nn.layer.norm._BatchNormBase)]
    with paddle.no_grad():
        for k in range(2):
            for norm in norms:
                norm._momentum = k / (k + 1)
            net(paddle.to_tensor(images[k * 128:(k + 1) * 128]))
    net.eval()
    val, val_labels = data.real_images(cfg, None, "Eval")
    with paddle.no_grad():
        top1 = float((net(paddle.to_tensor(val)).numpy().argmax(1) == np.asarray(val_labels)).mean())
    assert top1 >= VISION_MIN_TOP1, f"the vision model did not learn: val top-1 {top1:.3f} < {VISION_MIN_TOP1}"
    folder = tmp_path_factory.mktemp("own") / "mymodel"
    paddle.jit.save(net, str(folder / "mbv2_digits"), input_spec=[InputSpec([None, 3, 32, 32], "float32", "image")])
    return str(folder)


@dataclass(frozen=True)
class TrainedModel:
    """A trained and exported digits model shared by the session (read-only).

    :ivar overrides: ``-o`` strings for data plus ``Global.pretrained_model=<checkpoint>``;
        no output dirs, so add your own (``make_config`` does).
    :ivar checkpoint: prefix of the best checkpoint (``.../DigitsNet/best_model``).
    :ivar run_dir: the training run folder (``epoch_1`` .. ``epoch_N``, ``best_model``, ``latest``,
        ``metrics.jsonl``, ``result.json``); trained with ``Global.save_interval=1``.
    :ivar inference_dir: the exported ``inference.pdmodel``/``.pdiparams`` folder.
    :ivar workdir: the root of everything above.
    :ivar train: the ``TrainResult``; :ivar export: the ``ExportResult``.
    """
    overrides: tuple[str, ...]
    checkpoint: str
    run_dir: str
    inference_dir: str
    workdir: str
    train: object
    export: object


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, digits_dir) -> TrainedModel:
    """Train DigitsNet for ``TRAINED_EPOCHS`` epochs and export it, once per session."""
    import paddle

    from ppslim import config
    from ppslim.stages import export as export_stage
    from ppslim.stages import train as train_stage

    workdir = tmp_path_factory.mktemp("trained")
    base = [*data_overrides(digits_dir), *output_overrides(workdir)]
    # save_interval=1 keeps epoch_1..epoch_N checkpoints, e.g. to resume from the middle of the run.
    # A fresh name scope gives the parameters the names a new `ppslim train` process gives them
    # (conv2d_0 ...), whatever other tests built before: optimizer state is keyed by those names.
    with paddle.utils.unique_name.guard():
        train = train_stage.run(config.load(str(DIGITS_CONFIG), [*base, f"Global.epochs={TRAINED_EPOCHS}",
                                                                  "Global.save_interval=1"]))
    weights = f"Global.pretrained_model={train.best_model}"
    export = export_stage.run(config.load(str(DIGITS_CONFIG), [*base, weights]))
    return TrainedModel(overrides=(*data_overrides(digits_dir), weights), checkpoint=train.best_model,
                        run_dir=train.run_dir, inference_dir=export.model_dir, workdir=str(workdir),
                        train=train, export=export)


def pytest_collection_modifyitems(config, items):
    """Everything under ``tests/e2e/`` is marked ``e2e`` (declared in pyproject.toml), so
    ``pytest -m "not e2e"`` is the fast unit loop even if a module forgets its ``pytestmark``."""
    e2e_root = Path(__file__).resolve().parent / "e2e"
    for item in items:
        if e2e_root in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
