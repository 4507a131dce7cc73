"""Feature-map distillation losses with trainable parts, for ``DistillationPairLoss`` (PaddleClas's names).

Both carry their own layers (an MGD generator, PEFD projectors); ``DistillationPairLoss`` hands them to
the optimizer next to the network, as PaddleClas trains them. Imported only when such a loss is built
(it needs paddle).

- ``MGDLoss``: Masked Generative Distillation (arXiv 2205.01529). Random whole channels of the
  student's feature map are zeroed (each with probability ``lambda_mgd``), a two-conv generator
  rebuilds the teacher's map from the rest; ``alpha_mgd * mean squared error``. A 1x1 conv aligns
  the channel counts when they differ.
- ``PEFDLoss``: Projector Ensemble Feature Distillation (arXiv 2210.15274). ``num_projectors``
  Linear+ReLU projectors map the flattened (``mode: flatten``) or globally pooled (``gap``) student
  feature to the teacher's width; their mean is compared with the teacher's by ``1 - cosine``.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..errors import ConfigError


def _kaiming_normal_fan_out(layer) -> None:
    if isinstance(layer, nn.Conv2D):
        init = nn.initializer.KaimingNormal(fan_in=layer.weight.shape[0] * layer.weight.shape[2]
                                            * layer.weight.shape[3])
        init(layer.weight)


class MGDLoss(nn.Layer):
    def __init__(self, student_channels: int, teacher_channels: int, alpha_mgd: float = 1.756,
                 lambda_mgd: float = 0.15):
        super().__init__()
        if not 0.0 <= lambda_mgd < 1.0:
            raise ConfigError("MGDLoss.lambda_mgd", f"expected a masking probability in [0, 1), got {lambda_mgd}")
        self.alpha, self.mask_prob = float(alpha_mgd), float(lambda_mgd)
        self.align = (nn.Conv2D(student_channels, teacher_channels, 1)
                      if student_channels != teacher_channels else None)
        self.generation = nn.Sequential(nn.Conv2D(teacher_channels, teacher_channels, 3, padding=1), nn.ReLU(),
                                        nn.Conv2D(teacher_channels, teacher_channels, 3, padding=1))
        self.apply(_kaiming_normal_fan_out)

    def forward(self, student, teacher):
        if student.ndim != 4 or student.shape[-2:] != teacher.shape[-2:]:
            raise ConfigError("DistillationPairLoss.s_key", f"MGDLoss needs feature maps of one spatial size, got "
                              f"{list(student.shape)} and {list(teacher.shape)}")
        if self.align is not None:
            student = self.align(student)
        keep = (paddle.rand([teacher.shape[0], teacher.shape[1], 1, 1]) >= self.mask_prob).astype(student.dtype)
        rebuilt = self.generation(student * keep)
        return self.alpha * F.mse_loss(rebuilt, teacher)


class PEFDLoss(nn.Layer):
    def __init__(self, student_channel: int, teacher_channel: int, num_projectors: int = 3, mode: str = "flatten"):
        super().__init__()
        if num_projectors < 1:
            raise ConfigError("PEFDLoss.num_projectors", f"expected an integer >= 1, got {num_projectors}")
        if mode not in ("flatten", "gap"):
            raise ConfigError("PEFDLoss.mode", f"{mode!r} not in ['flatten', 'gap']")
        self.mode = mode
        self.projectors = nn.LayerList([nn.Linear(student_channel, teacher_channel) for _ in range(num_projectors)])

    def forward(self, student, teacher):
        if self.mode == "gap":
            student, teacher = F.adaptive_avg_pool2d(student, 1), F.adaptive_avg_pool2d(teacher, 1)
        student, teacher = student.flatten(1), teacher.flatten(1)
        projected = paddle.add_n([F.relu(p(student)) for p in self.projectors]) / len(self.projectors)
        return (1.0 - F.cosine_similarity(projected, teacher, axis=1, eps=1e-12)).mean()


BASE_LOSSES = {"MGDLoss": MGDLoss, "PEFDLoss": PEFDLoss}
