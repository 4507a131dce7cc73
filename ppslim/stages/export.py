"""``ppslim export``: a trained checkpoint (FP32, pruned or QAT) -> Paddle inference model, verified.

As PaddleClas's ``tools/export_model.py`` on a slim config: a QAT checkpoint exports its INT8 program, a
pruned one its pruned network.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .. import artifacts, models, provenance
from ..config import Config
from ..inference_model import input_spec, save_verified, verification_images
from ..predict import Agreement, dygraph_predictor, predict_all
from ..compress.quant import save_quantized
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


def run(cfg: Config, dynamic_hw: bool = False) -> ExportResult:
    """Export ``Global.pretrained_model`` (default: the run's best model) to ``Global.save_inference_dir``.

    :param dynamic_hw: export with any input height/width (bench: trained at 32x32, timed at 224x224);
        FLOPs are counted at ``Global.image_shape``, verification uses the Eval images as they come.
    """
    import paddle

    prefix, key = default_weights(cfg)
    record = provenance.Record(cfg, "export", prefix)
    record.guard(cfg.Global.save_inference_dir, "Global.save_inference_dir")
    images = verification_images(cfg)  # checks the Eval data before any model work
    model, _ = load_trained_model(cfg, prefix, key)
    quanter = getattr(model, "quanter", None)  # a QAT checkpoint exports its INT8 program
    model = models.inference_network(model)  # DistillationModel: the Arch.infer_model_name member only
    model.eval()
    reference = predict_all(dygraph_predictor(model), images)
    # counted before saving: saving a QAT model turns its forward into a static function
    params, flops = models.count_params(model), models.count_flops(model, cfg.Global.image_shape)

    def save(tmp_dir: str) -> None:
        prefix = os.path.join(tmp_dir, "inference")
        if quanter is not None:
            save_quantized(quanter, model, prefix, input_spec(cfg, dynamic_hw))
        else:
            paddle.jit.save(model, prefix, input_spec=input_spec(cfg, dynamic_hw))

    derived = [d for d in (artifacts.PTQ_DIRNAME, "lite")
                if os.path.isdir(os.path.join(cfg.Global.save_inference_dir, d))]
    if derived:
        log.warning("re-exporting replaces %s, including %s made from the previous model",
                    cfg.Global.save_inference_dir, " and ".join(f"{d}/" for d in derived))
    g = cfg.Global
    tolerance = ({"min_cosine": g.verify_int8_min_cosine, "min_agreement": g.verify_int8_min_top1_agreement}
                 if quanter is not None else {})
    saved = save_verified(cfg, g.save_inference_dir, save, reference, "QAT export" if quanter else "export",
                          images=images, **tolerance)
    result = ExportResult(model_dir=saved.model_dir, weights=prefix + ".pdparams", params_bytes=saved.params_bytes,
                          params=params, flops=flops,
                          backend=saved.backend, agreement=saved.agreement)
    record.write_result(cfg.Global.save_inference_dir, result, saved.model_dir)
    return result
