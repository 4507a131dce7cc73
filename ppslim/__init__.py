"""ppslim: compression toolchain (QAT, pruning, PTQ, Paddle Lite) for PaddlePaddle classifiers."""
# PNG decoding must bind the system zlib before paddle's bundled one is loaded; importing
# paddle first makes libpng fail with "IDAT: incorrect data check" and then segfault.
import zlib  # noqa: F401  (import order is the point)

import PIL.PngImagePlugin  # noqa: F401

__version__ = "0.1.0"
