"""``ppslim train`` on a PaddleClas-form data config: ops on HWC, no ToCHWImage, PaddleClas
augmentations and OpSampler(Mixup, CutMix) batch ops, 1 epoch on the digits at 32x32."""
from __future__ import annotations

import json
import os

import pytest

from tests.conftest import DIGITS_CONFIG, run_cli

pytestmark = pytest.mark.e2e

PADDLECLAS_FORM = f"""\
_BASE_: {DIGITS_CONFIG}
Global:
  epochs: 1
Optimizer:
  lr:
    warmup_epoch: 0
Loss:
  Train:
    - CELoss:
        weight: 1.0
        epsilon: 0.1
DataLoader:
  Train:
    dataset:
      transform_ops:
        - DecodeImage:
            to_rgb: True
            channel_first: False
            backend: pil
        - ResizeImage:
            size: 36
            interpolation: bicubic
            backend: pil
        - RandCropImage:
            size: 32
            scale: [0.6, 1.0]
            interpolation: bicubic
            backend: pil
            use_log_aspect: True
        - TimmAutoAugment:
            config_str: rand-m5-mstd0.5-inc1
            interpolation: bicubic
            img_size: 32
        - NormalizeImage:
            scale: 1.0/255.0
            mean: [0.5, 0.5, 0.5]
            std: [0.5, 0.5, 0.5]
            order: ''
        - RandomErasing:
            EPSILON: 0.25
            sl: 0.02
            sh: 1.0/3.0
            r1: 0.3
            attempt: 10
            use_log_aspect: True
            mode: pixel
      batch_transform_ops:
        - OpSampler:
            MixupOperator:
              alpha: 0.2
              prob: 0.5
            CutmixOperator:
              alpha: 1.0
              prob: 0.5
"""


def _write(tmp_path, text: str, name: str = "paddleclas_form.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _metrics(workdir) -> list[dict]:
    path = os.path.join(workdir, "output", "DigitsNet", "metrics.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_paddleclas_form_config_trains_and_repeats_under_its_seed(tmp_path, make_overrides):
    cfg = _write(tmp_path, PADDLECLAS_FORM)
    runs = []
    for name in ("a", "b"):  # 1 epoch each, same seed
        proc = run_cli("train", "-c", cfg, "-o", *make_overrides(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(_metrics(tmp_path / name))
    assert runs[0][0]["train_loss"] == runs[1][0]["train_loss"]  # same seed: same pixels, same mixing, same loss
    # Another seed, 3 epochs: other pixels (another loss at epoch 1), and it learns through heavy
    # augmentation and mixing (10 classes: chance is 0.1; the plain config reaches ~0.35 after 1 epoch).
    proc = run_cli("train", "-c", cfg, "-o", *make_overrides(tmp_path / "c", "Global.seed=7", "Global.epochs=3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    other = _metrics(tmp_path / "c")
    assert other[0]["train_loss"] != runs[0][0]["train_loss"]
    assert other[-1]["top1"] >= 0.3, other[-1]


def test_to_chw_in_dataset_ops_is_refused_before_training(tmp_path, make_overrides):
    text = PADDLECLAS_FORM.replace("      batch_transform_ops:", "        - ToCHWImage:\n      batch_transform_ops:")
    proc = run_cli("train", "-c", _write(tmp_path, text), "-o", *make_overrides(tmp_path))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: DataLoader.Train.dataset.transform_ops.6.ToCHWImage: ") and "twice" in line
    assert not os.path.exists(tmp_path / "output")


def test_multi_scale_training_runs(tmp_path, make_overrides):
    """MultiScaleDataset + MultiScaleSampler (batches at 32x32 and 48x48) through ``ppslim train``."""
    text = f"""\
_BASE_: {DIGITS_CONFIG}
Global:
  epochs: 1
Optimizer:
  lr:
    warmup_epoch: 0
DataLoader:
  Train:
    dataset:
      name: MultiScaleDataset
      transform_ops:
        - DecodeImage:
            to_rgb: True
            channel_first: False
        - RandCropImage:
            size: 32
            scale: [0.6, 1.0]
        - NormalizeImage:
            scale: 1.0/255.0
            mean: [0.5, 0.5, 0.5]
            std: [0.5, 0.5, 0.5]
            order: ''
    sampler:
      name: MultiScaleSampler
      scales: [32, 48]
      first_bs: 64
      divided_factor: 16
      is_training: True
"""
    proc = run_cli("train", "-c", _write(tmp_path, text), "-o", *make_overrides(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = _metrics(tmp_path)[-1]
    assert record["epoch"] == 1 and record["top1"] >= 0.2, record  # chance is 0.1
