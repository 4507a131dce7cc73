"""PaddleClas's transform and batch ops by their PaddleClas names (see :mod:`.base` for the contract).

Importing this package fills :data:`TRANSFORMS` and :data:`BATCH_TRANSFORMS`; PaddleClas op names
ppslim does not implement are refused with one line saying so.
"""
from . import autoaugment, batch, color, decode, erasing, geometry, normalize  # noqa: F401 (registration)
from .base import BATCH_TRANSFORMS, TRANSFORMS
from .normalize import parse_scale  # noqa: F401

_NOT_IMPLEMENTED = "a PaddleClas op ppslim does not implement; remove it or replace it with one that ppslim has"
for _name in ("AugMix", "CropImageAtRatio", "RandAugmentV2", "RandAugmentV4", "RandCropImageV2",
              "RandomCropImage", "RandomRotation", "RandomRot90", "RandomGrayscale", "RandomInterpolationAugment",
              "CropWithPadding", "Pad", "Padv2", "ToTensor", "Normalize", "RandomHorizontalFlip",
              "RandomResizedCrop", "CenterCrop", "Resize", "RandomApply", "ResizeRandomCrop", "MultiScaleResize"):
    TRANSFORMS.refuse(_name, _NOT_IMPLEMENTED)
for _name in ("FmixOperator", "MixupCutmixHybrid"):
    BATCH_TRANSFORMS.refuse(_name, _NOT_IMPLEMENTED + " (MixupOperator, CutmixOperator and OpSampler are)")


class Compose:
    """Apply ops in order (config order is the contract, as in PaddleClas)."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, x):
        for op in self.ops:
            x = op(x)
        return x


def build_transforms(specs, path: str) -> Compose:
    """The ops of a config list, composed (no layout change: see ``data.dataset`` for HWC->CHW)."""
    return Compose(TRANSFORMS.build_list(specs, path))


__all__ = ["TRANSFORMS", "BATCH_TRANSFORMS", "Compose", "build_transforms", "parse_scale"]
