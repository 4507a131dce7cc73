"""``ppslim ptq``: post-training static quantization of ANY Paddle inference model.

Input: ``Slim.ptq.model_dir`` / ``Global.inference_model_dir`` / ``Global.save_inference_dir`` (first
set wins) holding ``model_filename`` + ``params_filename``. Output:
``<that dir>/quant_post_static_model/`` with ``inference.pdmodel/.pdiparams``, verified against the
FP32 model on real images before it is kept. With ``Slim.ptq.engine: nncf`` (:mod:`ppslim.serve.nncf_ptq`)
the output is ``<that dir>/nncf_int8_model/`` with an OpenVINO INT8 IR (``inference.xml``/``.bin``),
verified the same way with the openvino predictor that serves it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

from .. import artifacts, data
from ..config import Config, InferenceBackend, PtqEngine
from ..errors import ConfigError, PpslimError
from ..inference_model import model_outputs, save_verified, verification_images
from ..predict import QUANT_OPS, Agreement, read_program_ops
from ..serve import backends, nncf_ptq

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


@contextlib.contextmanager
def static_programs():
    """Static mode inside fresh programs and a fresh name generator, back to dygraph afterwards.

    Fresh programs: the calibration feed is declared with ``paddle.static.data``, which clashes with
    an earlier PTQ's feed of another shape in the same process. Fresh names: the same inputs give
    byte-identical files however many quantizations the process ran before (pipeline, bench).
    """
    import paddle

    paddle.enable_static()  # program_guard entered in dygraph mode would switch nothing
    try:
        with paddle.static.program_guard(paddle.static.Program(), paddle.static.Program()), \
                paddle.utils.unique_name.guard():
            yield
    finally:
        paddle.disable_static()


def feed_signature(model_file: str) -> tuple[str, list]:
    """Name and shape of the model's single image input, read from the program (no weights loaded)."""
    from paddle.base import core

    with open(model_file, "rb") as f:
        desc = core.ProgramDesc(f.read())  # keep the program alive while its block is used
    block = desc.block(0)
    feeds = [block.op(i).output("Out")[0] for i in range(block.op_size()) if block.op(i).type() == "feed"]
    if len(feeds) != 1:
        raise PpslimError(f"{model_file}: PTQ supports image classifiers with one input, found {feeds}")
    return feeds[0], list(block.find_var(feeds[0].encode()).shape())


def check_sample_shape(cfg: Config, feed_name: str, feed_shape: list) -> list:
    """The Train transforms' output shape, checked against the model's input before any work."""
    sample_shape = list(data.real_images(cfg, 1, "Train")[0].shape[1:])
    expected = list(feed_shape[1:])
    if len(expected) != len(sample_shape) or any(e > 0 and e != s for e, s in zip(expected, sample_shape)):
        raise ConfigError("DataLoader.Train.dataset.transform_ops",
                          f"produce images of shape {sample_shape}, the model's input {feed_name!r} wants {expected}")
    return sample_shape


def calibration_loader(cfg: Config, feed_name: str, feed_shape: list, batch_size: int):
    """A real ``paddle.io.DataLoader`` with ``feed_list`` over the Train split, as quant_post_static wants."""
    import paddle

    sample_shape = check_sample_shape(cfg, feed_name, feed_shape)
    dataset = data.build_loader(cfg, "Train", shuffle=False).dataset

    class Images(paddle.io.Dataset):
        def __len__(self):
            return len(dataset)

        def __getitem__(self, idx):
            return (dataset[idx][0],)

    image = paddle.static.data(name=feed_name, shape=[None, *sample_shape], dtype="float32")
    return paddle.io.DataLoader(Images(), feed_list=[image], places=paddle.CPUPlace(), batch_size=batch_size,
                                shuffle=False, drop_last=False, return_list=False), len(dataset)


def explain_failure(exe, model_dir: str, ptq, loader, error: Exception) -> Exception:
    """quant_post_static swallows the first error behind a bare ``except`` and then fails with an
    unrelated one. Only after a failure (so a good run pays nothing), run the FP32 program on one
    calibration batch: if that fails, its error is the one the user needs."""
    import paddle

    program, _, fetches = paddle.static.load_inference_model(model_dir, exe, model_filename=ptq.model_filename,
                                                             params_filename=ptq.params_filename)
    try:
        exe.run(program, feed=next(iter(loader)), fetch_list=fetches)
    except Exception as first:
        message = str(first).strip().splitlines()[-1][:300] if str(first).strip() else ""
        return PpslimError(f"the FP32 model fails on a calibration batch: {type(first).__name__}: {message}")
    return error


def quantize(cfg: Config, src: str, out_dir: str, calib: dict) -> None:
    """Calibrate on the Train split and write the quantized model into ``out_dir``.

    ``calib`` receives the numbers of batches and images actually used.
    """
    import paddle
    from paddleslim.quant import quant_post_static

    ptq = cfg.Slim.ptq
    feed_name, feed_shape = feed_signature(os.path.join(src, ptq.model_filename))
    with static_programs():
        exe = paddle.static.Executor(paddle.CPUPlace())
        loader, available = calibration_loader(cfg, feed_name, feed_shape, ptq.batch_size)
        calib["batches"] = min(ptq.batch_nums, len(loader))
        calib["images"] = min(available, calib["batches"] * ptq.batch_size)
        if calib["images"] < ptq.batch_nums * ptq.batch_size:
            log.warning("only %d calibration images available (asked for %d x %d)", calib["images"],
                        ptq.batch_nums, ptq.batch_size)
        log.info("PTQ %s on %d images (%d batches of %d), onnx_format=%s", ptq.algo.value, calib["images"],
                 calib["batches"], ptq.batch_size, ptq.onnx_format)
        try:
            quant_post_static(
                executor=exe, model_dir=src, quantize_model_path=out_dir, data_loader=loader,
                model_filename=ptq.model_filename, params_filename=ptq.params_filename,
                save_model_filename=artifacts.MODEL_FILE, save_params_filename=artifacts.PARAMS_FILE,
                batch_size=ptq.batch_size, batch_nums=calib["batches"], algo=ptq.algo.value,
                hist_percent=ptq.hist_percent, weight_quantize_type=ptq.weight_quantize_type,
                onnx_format=ptq.onnx_format, quantizable_op_type=list(ptq.quantizable_op_type),
                skip_tensor_list=list(ptq.skip_tensor_list) or None)
        except Exception as e:
            raise explain_failure(exe, src, ptq, loader, e) from e


def run(cfg: Config) -> PtqResult:
    g, ptq = cfg.Global, cfg.require("Slim.ptq")
    nncf = ptq.engine == PtqEngine.NNCF
    if nncf:
        nncf_ptq.check(cfg)
    src = source_dir(cfg)
    key = "Global.inference_model_dir" if g.inference_model_dir else "Global.save_inference_dir"
    model_file, params_file = artifacts.inference_files(src, ptq.model_filename, ptq.params_filename, key)
    read_program_ops(model_file)  # "not a Paddle model" fails here, before any data work
    data.check_dataset(cfg, "Train")
    check_sample_shape(cfg, *feed_signature(model_file))
    images = verification_images(cfg)
    reference = model_outputs(cfg, model_file, params_file, images, InferenceBackend.ONEDNN)
    out_dir = artifacts.nncf_dir(src) if nncf else artifacts.ptq_dir(src)
    t0 = time.perf_counter()
    calib = {}

    def save(tmp_dir: str) -> None:
        if nncf:
            nncf_ptq.quantize(cfg, model_file, params_file, tmp_dir, calib)
        else:
            quantize(cfg, src, tmp_dir, calib)

    files = {"model_filename": artifacts.OV_MODEL_FILE, "params_filename": artifacts.OV_WEIGHTS_FILE} if nncf else {}
    saved = save_verified(cfg, out_dir, save, reference, f"PTQ ({'nncf' if nncf else ptq.algo.value})",
                          images=images, min_cosine=g.verify_int8_min_cosine,
                          min_agreement=g.verify_int8_min_top1_agreement, **files)
    quant_ops = (backends.openvino_ops(saved.model_file).count("FakeQuantize") if nncf else
                 sum(op in QUANT_OPS for op in read_program_ops(saved.model_file)))
    fp32_bytes = os.path.getsize(params_file)
    result = PtqResult(src, saved.model_dir, "nncf" if nncf else ptq.algo.value, ptq.onnx_format and not nncf,
                       calib["batches"], calib["images"],
                       fp32_bytes, saved.params_bytes, round(saved.params_bytes / fp32_bytes, 4), quant_ops,
                       saved.backend, saved.agreement, round(time.perf_counter() - t0, 2))
    artifacts.write_json(os.path.join(out_dir, artifacts.RESULT_FILE), result)
    return result

