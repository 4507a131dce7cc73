"""The embedded default data: scikit-learn's 1,797 real 8x8 handwritten digits as PNG files.

Written in PaddleClas's ImageNetDataset layout so every stage reads it exactly like a user's
ImageNet folder: ``images/<class>/<index>.png`` plus ``train_list.txt`` / ``val_list.txt`` /
``label_list.txt``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import artifacts

VAL_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsResult:
    out_dir: str
    train_images: int
    val_images: int
    classes: int


def write_digits(out_dir: str, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> DigitsResult:
    """Write the digits data set to ``out_dir`` (atomically: a temp dir renamed into place).

    The split is stratified-free but fixed: a permutation from ``seed``, the first
    ``val_fraction`` of it is the val split.
    """
    if not 0.0 < val_fraction < 1.0:
        from ..errors import ConfigError

        raise ConfigError("--val-fraction", f"expected a value in (0, 1), got {val_fraction}")
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 ink levels -> 0..255 grey, kept at the native 8x8: the transforms resize.
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype("uint8")
    labels = digits.target.astype(int)
    order = np.random.RandomState(seed).permutation(len(images))
    n_val = int(round(len(images) * val_fraction))
    val_idx, train_idx = order[:n_val].tolist(), order[n_val:].tolist()

    def rel_path(i: int) -> str:
        return f"images/{labels[i]}/{i:04d}.png"

    rows = {"train": [f"{rel_path(i)} {labels[i]}" for i in train_idx],
            "val": [f"{rel_path(i)} {labels[i]}" for i in sorted(val_idx)]}
    with artifacts.atomic_dir(out_dir) as tmp:
        for i in range(len(images)):
            path = os.path.join(tmp, rel_path(i))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(images[i], mode="L").save(path)
        for split, lines in rows.items():
            with open(os.path.join(tmp, f"{split}_list.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
        with open(os.path.join(tmp, "label_list.txt"), "w") as f:
            f.write("\n".join(f"{c} digit_{c}" for c in range(10)) + "\n")
    return DigitsResult(out_dir, len(train_idx), n_val, 10)
