"""``DecodeImage``: encoded bytes -> an HWC image, with PaddleClas's ``backend``/``to_np``/``to_rgb`` meaning."""
from __future__ import annotations

import io

import numpy as np

from ...errors import ConfigError
from .base import TRANSFORMS, check_backend


@TRANSFORMS.register("DecodeImage")
class DecodeImage:
    """Decode with cv2 (``backend: cv2``, PaddleClas's default: BGR, then flipped to RGB when
    ``to_rgb``) or PIL (``backend: pil``: RGB). ``to_np: false`` returns what the backend decoded
    unchanged (a PIL image for pil, a BGR array for cv2), as in PaddleClas, where ``to_rgb`` and
    ``channel_first`` only act with ``to_np``. Grey images decode to 3 channels either way.
    """

    def __init__(self, to_np: bool = True, to_rgb: bool = True, channel_first: bool = False, backend: str = "cv2"):
        for key, value in (("to_np", to_np), ("to_rgb", to_rgb), ("channel_first", channel_first)):
            if not isinstance(value, bool):
                raise ConfigError(f"DecodeImage.{key}", f"expected true/false, got {value!r}")
        self.to_np = to_np
        self.to_rgb = to_rgb
        self.channel_first = channel_first
        self.backend = check_backend(backend, "DecodeImage.backend")

    def __call__(self, data):
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"DecodeImage expects encoded image bytes, got {type(data).__name__}")
        if self.backend == "pil":
            from PIL import Image

            img = Image.open(io.BytesIO(data)).convert("RGB")
            if not self.to_np:
                return img
            img = np.asarray(img)[:, :, ::-1]  # RGB -> BGR, the cv2 order both backends share from here
        else:
            import cv2

            img = cv2.imdecode(np.frombuffer(data, dtype="uint8"), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError("DecodeImage: cv2 could not decode the image")
            if not self.to_np:
                return img
        if self.to_rgb:
            img = img[:, :, ::-1]
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return np.ascontiguousarray(img)
