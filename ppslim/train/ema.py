"""``EMA``: an exponential moving average of a model's weights (PaddleClas ``ExponentialMovingAverage``).

After every optimizer step each entry of the state dict (parameters and BN statistics) becomes
``decay * ema + (1 - decay) * current``. PaddleClas evaluates the average each epoch next to the raw
model and saves it as the checkpoint's ``.pdparams`` (the raw weights go to ``.pdema``).
"""
from __future__ import annotations

import copy


class ModelEma:
    """A frozen copy of ``model`` whose weights track its moving average."""

    def __init__(self, model, decay: float):
        self.module = copy.deepcopy(model)
        self.module.eval()
        self.decay = decay

    def update(self, model) -> None:
        """Fold ``model``'s current weights into the average."""
        import paddle

        d = self.decay
        with paddle.no_grad():
            for ema_v, v in zip(self.module.state_dict().values(), model.state_dict().values()):
                if ema_v.dtype in (paddle.float32, paddle.float64, paddle.float16, paddle.bfloat16):
                    paddle.assign(d * ema_v + (1.0 - d) * v.astype(ema_v.dtype), ema_v)
                else:
                    paddle.assign(v, ema_v)  # integer buffers (step counters) are copied, not averaged
