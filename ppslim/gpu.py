"""Start-up check that the installed Paddle build has kernels for the visible GPU.

The ``paddlepaddle-gpu==2.6.2`` wheel on PyPI is a CUDA 11.8 build with SASS for sm_61..sm_86 and
no PTX, so it cannot run on Hopper (sm_90). CUDA binaries run on GPUs of the same major
generation with an equal or newer minor version, so sm_86 code also serves sm_89 (Ada).
"""
from __future__ import annotations

from .errors import PpslimError

# Compute capabilities the CUDA 11.8 PyPI wheel ships kernels for (checked with cuobjdump).
CUDA11_ARCHS = ((6, 1), (7, 0), (7, 5), (8, 0), (8, 6))
# Paddle's own CUDA 12 build of the same version adds Hopper.
CUDA12_ARCHS = CUDA11_ARCHS + ((9, 0),)


def supported(capability: tuple[int, int], archs=CUDA11_ARCHS) -> bool:
    major, minor = capability
    return any(a_major == major and a_minor <= minor for a_major, a_minor in archs)


def installed_archs() -> tuple:
    import paddle

    cuda = paddle.version.cuda()
    return CUDA12_ARCHS if str(cuda).startswith("12") else CUDA11_ARCHS


def check_gpu_supported() -> None:
    """Raise one clear line when no GPU is visible or its generation is not in this Paddle build."""
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        raise PpslimError("Global.device=gpu but this Paddle is a CPU build; use the CUDA image "
                          "(make image) or set Global.device=cpu")
    if paddle.device.cuda.device_count() < 1:
        raise PpslimError("Global.device=gpu but no GPU is visible (check --gpus / NVIDIA_VISIBLE_DEVICES)")
    capability = tuple(paddle.device.cuda.get_device_capability(0))
    archs = installed_archs()
    if not supported(capability, archs):
        have = ", ".join(f"sm_{a}{b}" for a, b in archs)
        raise PpslimError(f"GPU compute capability sm_{capability[0]}{capability[1]} is not covered by this "
                          f"Paddle build (CUDA {paddle.version.cuda()}: {have}); rebuild the image with "
                          f"--build-arg PADDLE_CUDA=12 (make image PADDLE_CUDA=12)")
