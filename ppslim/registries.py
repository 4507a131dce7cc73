"""Every registry the config can name, gathered so ``config`` can validate op lists in one place."""
from .data.transforms import BATCH_TRANSFORMS, TRANSFORMS  # noqa: F401
from .train.losses import LOSSES  # noqa: F401
from .train.metrics import METRICS  # noqa: F401
from .registry import check_params  # noqa: F401
