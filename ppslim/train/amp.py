"""``AMP``: paddle.amp mixed precision as PaddleClas runs it (``ppcls/utils/amp.py``, ``Engine._init_amp``).

Training forwards run under ``paddle.amp.auto_cast(level)`` (fp16) and the loss goes through a
``GradScaler(scale_loss, use_dynamic_loss_scaling)``; O2 also decorates the model and optimizer
(fp16 parameters, fp32 master weights, fp32 saved weights). Evaluation runs under auto_cast when
``use_fp16_test`` is set, and always under O2 (paddle evaluates an O2 model only in fp16, as PaddleClas notes).
Without an ``AMP`` section (or ``use_amp: false``) every piece is a plain fp32 pass-through.
"""
from __future__ import annotations

import contextlib
from typing import Optional

from ..config import AmpConfig, AmpLevel
from ..errors import ConfigError


class Amp:
    """The auto_cast contexts and loss scaler one run uses."""

    def __init__(self, cfg: Optional[AmpConfig], device: str = "gpu"):
        self.enabled = bool(cfg is not None and cfg.use_amp)
        self.cfg = cfg
        self.scaler = None
        if self.enabled and device.startswith("cpu"):
            # Only training refuses: export, PTQ and eval of an AMP config on CPU never use AMP (as in PaddleClas).
            raise ConfigError("AMP.use_amp", "true not supported on device cpu: paddle 2.6's auto_cast has no "
                              "effect on CPU and its CPU kernels have no bfloat16 conv2d for training; set "
                              "AMP.use_amp=false or Global.device=gpu")
        if self.enabled:
            import paddle

            self.scaler = paddle.amp.GradScaler(init_loss_scaling=cfg.scale_loss,
                                                use_dynamic_loss_scaling=cfg.use_dynamic_loss_scaling)

    @property
    def level(self) -> Optional[str]:
        return str(self.cfg.level) if self.enabled else None

    @property
    def eval_in_fp16(self) -> bool:
        return self.enabled and (self.cfg.use_fp16_test or self.cfg.level == AmpLevel.O2)

    def decorate(self, model, optimizer):
        """O2: fp16 parameters with fp32 master weights; O1 and fp32 return both unchanged."""
        if not self.enabled or self.cfg.level != AmpLevel.O2:
            return model, optimizer
        import paddle

        return paddle.amp.decorate(models=model, optimizers=optimizer, level="O2", save_dtype="float32")

    def train_cast(self):
        return self._cast() if self.enabled else contextlib.nullcontext()

    def eval_cast(self):
        return self._cast() if self.eval_in_fp16 else contextlib.nullcontext()

    def _cast(self):
        import paddle

        return paddle.amp.auto_cast(level=self.level, dtype="float16", use_promote=self.cfg.use_promote)

    def backward(self, loss) -> None:
        (self.scaler.scale(loss) if self.enabled else loss).backward()

    def step(self, optimizer) -> None:
        if self.enabled:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
