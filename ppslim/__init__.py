"""ppslim: compression toolchain (QAT, pruning, PTQ, Paddle Lite) for PaddlePaddle classifiers."""
import sys


def _bind_zlib_before_paddle() -> None:
    """libpaddle exports its own zlib (``inflate``, ``deflate``, ...). Calls that are still unbound
    when it loads resolve to its copies, and then Pillow's PNG decoding fails ("libpng error: IDAT",
    "codec configuration error") and ``zlib.decompress`` segfaults. Encoding and decoding one tiny
    PNG and one zlib round trip here binds those calls to the right library first."""
    if "paddle.base.libpaddle" in sys.modules or "paddle.base.core" in sys.modules:
        raise ImportError("import ppslim before paddle: paddle's bundled zlib breaks PNG decoding (and can "
                          "segfault) in a process where it was loaded first")
    import io
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (2, 2)).save(buf, format="PNG")
    Image.open(io.BytesIO(buf.getvalue())).load()
    zlib.decompress(zlib.compress(b"ppslim" * 8))


_bind_zlib_before_paddle()

__version__ = "0.1.0"
