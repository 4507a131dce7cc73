"""``Slim.ptq.engine: nncf``: INT8 for the OpenVINO backend, by NNCF on the OpenVINO model of the FP32 program.

OpenVINO's Paddle frontend cannot read PaddleSlim's INT8 programs (``dequantize_linear`` fails to
convert), so this engine quantizes where OpenVINO can: it reads the FP32 ``.pdmodel`` with OpenVINO,
calibrates with ``nncf.quantize`` on the same calibration images PaddleSlim would use (the first
``Slim.ptq.batch_size * batch_nums`` images of ``Slim.ptq.calib_dir`` or ``DataLoader.Train``, in order), and saves an OpenVINO
IR (``inference.xml``/``.bin``). ``ppslim ptq`` then verifies it against the FP32 outputs like any
INT8 artifact, with the predictor that serves it.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from .. import artifacts
from ..config import Config, InferenceBackend, OverflowFix, PtqConfig
from ..errors import ConfigError

log = logging.getLogger(__name__)

# PaddleSlim's knobs: NNCF has its own calibration (min-max ranges, per-channel symmetric weights, bias
# correction), so a non-default value would be ignored; it is refused instead.
PADDLESLIM_ONLY = ("algo", "hist_percent", "weight_quantize_type", "onnx_format", "round_type", "bias_correction",
                   "quantizable_op_type", "skip_tensor_list", "search")


def check(cfg: Config, ptq: PtqConfig) -> None:
    """Refuse, before any work, keys this engine cannot honor."""
    default = PtqConfig()
    for key in PADDLESLIM_ONLY:
        value = getattr(ptq, key)
        if value != getattr(default, key):
            shown = value.value if hasattr(value, "value") else list(value) if isinstance(value, tuple) else value
            raise ConfigError(f"Slim.ptq.{key}", f"{shown!r} is a PaddleSlim setting; Slim.ptq.engine=nncf "
                              "calibrates with NNCF's own method: remove the key or use engine paddleslim")
    if cfg.Global.inference_backend not in (InferenceBackend.AUTO, InferenceBackend.OPENVINO):
        raise ConfigError("Global.inference_backend", f"{cfg.Global.inference_backend.value!r} cannot run the "
                          "OpenVINO IR that Slim.ptq.engine=nncf writes: use openvino or auto")


def overflow_fix(ptq: PtqConfig, flags=None) -> OverflowFix:
    """``Slim.ptq.overflow_fix`` with ``auto`` resolved for this CPU (``flags``: a flag set, for tests).

    Without VNNI or AMX, OpenVINO's INT8 convolutions sum u8 x s8 pairs into 16 bits, which full-range 8-bit
    weights can saturate: NNCF then quantizes every layer's weights to 7 bits (measured on the digits_hard
    MobileNetV3_small_x0_35 on an AVX2 CPU: top-1 0.9414 with enable, 0.8917 with NNCF's first_layer default,
    FP32 0.9481)."""
    from ..serve import cpu

    chosen = ptq.overflow_fix or OverflowFix.AUTO
    if chosen != OverflowFix.AUTO:
        return chosen
    return OverflowFix.FIRST_LAYER if cpu.features(flags).int8_dot else OverflowFix.ENABLE


def calibration_images(ptq: PtqConfig, calib_set) -> list[np.ndarray]:
    """The images PaddleSlim's calibration would see: the first ``batch_size * batch_nums`` of the
    calibration set (``ppslim.stages.ptq.calibration``), one ``[1, C, H, W]`` array each (NNCF's item)."""
    count = min(len(calib_set.files), ptq.batch_size * ptq.batch_nums)
    return [calib_set.load(i)[None] for i in range(count)]


def quantize(ptq: PtqConfig, model_file: str, params_file: str, calib_set, out_dir: str, calib: dict) -> None:
    """Write the NNCF INT8 IR of the FP32 program into ``out_dir``, calibrated on the first
    ``batch_size * batch_nums`` images of ``calib_set`` (the images PaddleSlim's engine would see, one
    ``[1, C, H, W]`` array each); ``calib`` receives what was used."""
    import nncf
    import openvino as ov

    images = calibration_images(ptq, calib_set)
    calib["images"] = len(images)
    calib["batches"] = -(-len(images) // ptq.batch_size)
    if len(images) < ptq.batch_nums * ptq.batch_size:
        log.warning("only %d calibration images available (asked for %d x %d)", len(images), ptq.batch_nums,
                    ptq.batch_size)
    fix = overflow_fix(ptq)
    calib["overflow_fix"] = fix.value
    log.info("PTQ nncf on %d images, overflow_fix %s", len(images), fix.value)
    model = ov.Core().read_model(model_file, params_file)
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.advanced_parameters import OverflowFix as NncfOverflowFix

    quantized = nncf.quantize(model, nncf.Dataset(images), subset_size=len(images),
                              advanced_parameters=AdvancedQuantizationParameters(
                                  overflow_fix=NncfOverflowFix(fix.value.replace("first_layer", "first_layer_only"))))
    ov.save_model(quantized, os.path.join(out_dir, artifacts.OV_MODEL_FILE), compress_to_fp16=False)
