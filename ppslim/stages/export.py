"""``ppslim export``: a trained checkpoint (FP32 or pruned) -> Paddle inference model, verified."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .. import artifacts, models
from ..config import Config
from ..inference_model import input_spec, save_verified, verification_images
from ..predict import Agreement, dygraph_predictor, predict_all
from ..restore import default_weights, load_trained_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    model_dir: str
    weights: str
    params_bytes: int
    params: int
    flops: int
    backend: str
    agreement: Agreement


def run(cfg: Config) -> ExportResult:
    """Export ``Global.pretrained_model`` (default: the run's best model) to ``Global.save_inference_dir``."""
    import paddle

    prefix, key = default_weights(cfg)
    images = verification_images(cfg)  # checks the Eval data before any model work
    model, _ = load_trained_model(cfg, prefix, key)
    model = models.inference_network(model)  # DistillationModel: the Arch.infer_model_name member only
    model.eval()
    reference = predict_all(dygraph_predictor(model), images)

    def save(tmp_dir: str) -> None:
        paddle.jit.save(model, os.path.join(tmp_dir, "inference"), input_spec=input_spec(cfg))

    derived = [d for d in (artifacts.PTQ_DIRNAME, "lite")
                if os.path.isdir(os.path.join(cfg.Global.save_inference_dir, d))]
    if derived:
        log.warning("re-exporting replaces %s, including %s made from the previous model",
                    cfg.Global.save_inference_dir, " and ".join(f"{d}/" for d in derived))
    saved = save_verified(cfg, cfg.Global.save_inference_dir, save, reference, "export", images=images)
    result = ExportResult(model_dir=saved.model_dir, weights=prefix + ".pdparams", params_bytes=saved.params_bytes,
                          params=models.count_params(model), flops=models.count_flops(model, cfg.Global.image_shape),
                          backend=saved.backend, agreement=saved.agreement)
    artifacts.write_json(os.path.join(cfg.Global.save_inference_dir, artifacts.RESULT_FILE), result)
    return result
