"""``ppslim ptq``: post-training static quantization of ANY Paddle inference model.

Input: ``Slim.ptq.model_dir`` / ``Global.inference_model_dir`` / ``Global.save_inference_dir`` (first
set wins) holding ``model_filename`` + ``params_filename``. Output:
``<that dir>/quant_post_static_model/`` with ``inference.pdmodel/.pdiparams``, verified against the
FP32 model on real images before it is kept.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from .. import artifacts, data
from ..config import Config
from ..errors import ConfigError, PpslimError
from ..inference_model import save_verified, verification_images
from ..config import InferenceBackend
from ..predict import Agreement, QUANT_OPS, paddle_predictor, predict_all, read_program_ops

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PtqResult:
    source_dir: str
    model_dir: str
    algo: str
    onnx_format: bool
    calib_batches: int
    calib_images: int
    fp32_params_bytes: int
    params_bytes: int
    size_ratio: float
    quant_ops: int
    backend: str
    agreement: Agreement
    seconds: float


def source_dir(cfg: Config) -> str:
    return cfg.Global.inference_model_dir or cfg.Global.save_inference_dir


def feed_signature(model_file: str, params_file: str) -> tuple[str, list]:
    """Name and shape of the model's single image input, read from the program itself."""
    import paddle

    paddle.enable_static()
    try:
        exe = paddle.static.Executor(paddle.CPUPlace())
        program, feeds, _ = paddle.static.load_inference_model(
            os.path.dirname(model_file), exe, model_filename=os.path.basename(model_file),
            params_filename=os.path.basename(params_file))
        if len(feeds) != 1:
            raise PpslimError(f"{model_file}: PTQ supports image classifiers with one input, found {feeds}")
        return feeds[0], list(program.global_block().var(feeds[0]).shape)
    finally:
        paddle.disable_static()


def calibration_loader(cfg: Config, feed_name: str, feed_shape: list, batch_size: int):
    """A real ``paddle.io.DataLoader`` with ``feed_list`` over the Train split, as quant_post_static wants."""
    import paddle

    loader = data.build_loader(cfg, "Train", shuffle=False)
    dataset = loader.dataset
    sample_shape = list(dataset[0][0].shape)
    expected = [d for d in feed_shape[1:]]
    if any(e > 0 and e != s for e, s in zip(expected, sample_shape)) or len(expected) != len(sample_shape):
        raise ConfigError("DataLoader.Train.dataset.transform_ops",
                          f"produce images of shape {sample_shape}, the model's input {feed_name!r} wants {expected}")

    class Images(paddle.io.Dataset):
        def __len__(self):
            return len(dataset)

        def __getitem__(self, idx):
            return (dataset[idx][0],)

    image = paddle.static.data(name=feed_name, shape=[None, *sample_shape], dtype="float32")
    return paddle.io.DataLoader(Images(), feed_list=[image], places=paddle.CPUPlace(), batch_size=batch_size,
                                shuffle=False, drop_last=False, return_list=False), len(dataset)


def check_calibration_runs(exe, model_dir, model_filename, params_filename, loader) -> None:
    """Run the FP32 program on one calibration batch first: quant_post_static swallows the first
    error behind a bare ``except`` and fails later with an unrelated message."""
    import paddle

    program, feeds, fetches = paddle.static.load_inference_model(model_dir, exe, model_filename=model_filename,
                                                                 params_filename=params_filename)
    batch = next(iter(loader))
    try:
        exe.run(program, feed=batch, fetch_list=fetches)
    except Exception as e:
        raise PpslimError(f"the FP32 model fails on a calibration batch: {type(e).__name__}: "
                          f"{str(e).strip().splitlines()[-1][:300]}") from e


def quantize(cfg: Config, exe_place, src: str, out_dir: str, feed: tuple, calib: dict) -> None:
    """Calibrate on the Train split and write the quantized model into ``out_dir`` (static mode)."""
    import paddle
    from paddleslim.quant import quant_post_static

    ptq = cfg.Slim.ptq
    exe = paddle.static.Executor(exe_place)
    loader, available = calibration_loader(cfg, *feed, ptq.batch_size)
    calib["batches"] = min(ptq.batch_nums, len(loader))
    calib["images"] = min(available, calib["batches"] * ptq.batch_size)
    if calib["images"] < ptq.batch_nums * ptq.batch_size:
        log.warning("only %d calibration images available (asked for %d x %d)", calib["images"],
                    ptq.batch_nums, ptq.batch_size)
    check_calibration_runs(exe, src, ptq.model_filename, ptq.params_filename, loader)
    log.info("PTQ %s on %d images (%d batches of %d), onnx_format=%s", ptq.algo.value, calib["images"],
             calib["batches"], ptq.batch_size, ptq.onnx_format)
    quant_post_static(
        executor=exe, model_dir=src, quantize_model_path=out_dir, data_loader=loader,
        model_filename=ptq.model_filename, params_filename=ptq.params_filename,
        save_model_filename=artifacts.MODEL_FILE, save_params_filename=artifacts.PARAMS_FILE,
        batch_size=ptq.batch_size, batch_nums=calib["batches"], algo=ptq.algo.value,
        hist_percent=ptq.hist_percent, weight_quantize_type=ptq.weight_quantize_type,
        onnx_format=ptq.onnx_format, quantizable_op_type=list(ptq.quantizable_op_type),
        skip_tensor_list=list(ptq.skip_tensor_list) or None)


def run(cfg: Config) -> PtqResult:
    import paddle

    g, ptq = cfg.Global, cfg.require("Slim.ptq")
    src = source_dir(cfg)
    key = "Global.inference_model_dir" if g.inference_model_dir else "Global.save_inference_dir"
    model_file, params_file = artifacts.inference_files(src, ptq.model_filename, ptq.params_filename, key)
    read_program_ops(model_file)  # "not a Paddle model" fails here, before any data work
    data.check_dataset(cfg, "Train")
    images = verification_images(cfg)
    feed_name, feed_shape = feed_signature(model_file, params_file)
    fp32 = paddle_predictor(model_file, params_file, InferenceBackend.ONEDNN, g.device, g.cpu_threads)
    reference = predict_all(fp32, images)
    out_dir = artifacts.ptq_dir(src)
    t0 = time.perf_counter()
    calib = {}

    def save(tmp_dir: str) -> None:
        paddle.enable_static()
        try:
            # A fresh name generator: the same inputs give byte-identical files, even when several
            # quantizations run in one process (the pipeline, bench).
            with paddle.utils.unique_name.guard():
                quantize(cfg, exe_place=paddle.CPUPlace(), src=src, out_dir=tmp_dir, feed=(feed_name, feed_shape),
                         calib=calib)
        finally:
            paddle.disable_static()

    saved = save_verified(cfg, out_dir, save, reference, f"PTQ ({ptq.algo.value})", images=images,
                          min_cosine=g.verify_int8_min_cosine, min_agreement=g.verify_int8_min_top1_agreement)
    quant_ops = sum(op in QUANT_OPS for op in read_program_ops(saved.model_file))
    fp32_bytes = os.path.getsize(params_file)
    result = PtqResult(src, saved.model_dir, ptq.algo.value, ptq.onnx_format, calib["batches"], calib["images"],
                       fp32_bytes, saved.params_bytes, round(saved.params_bytes / fp32_bytes, 4), quant_ops,
                       saved.backend, saved.agreement, round(time.perf_counter() - t0, 2))
    artifacts.write_json(os.path.join(out_dir, artifacts.RESULT_FILE), result)
    return result

