"""Kept for imports that predate :mod:`ppslim.data.ops`: the registries, ``build_transforms`` and the ops."""
from .ops import BATCH_TRANSFORMS, TRANSFORMS, Compose, build_transforms, parse_scale  # noqa: F401
from .ops.batch import CutmixOperator, MixupOperator, OpSampler  # noqa: F401
from .ops.decode import DecodeImage  # noqa: F401
from .ops.geometry import CropImage, RandCropImage, RandFlipImage, ResizeImage  # noqa: F401
from .ops.normalize import NormalizeImage, ToCHWImage  # noqa: F401
