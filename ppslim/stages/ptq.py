"""``ppslim ptq``: post-training static quantization of ANY Paddle inference model.

Input: ``Slim.ptq.model_dir`` / ``Global.inference_model_dir`` / ``Global.save_inference_dir`` (first
set wins): a folder holding one ``*.pdmodel`` + ``*.pdiparams`` pair (PaddleClas's ``inference.*``,
``paddle.jit.save``'s ``model.*``), or a ``.pdmodel`` file; ``Slim.ptq.model_filename`` /
``params_filename`` pick a pair in a folder that holds several. Calibration images:
``Slim.ptq.calib_dir`` (images without labels) or ``DataLoader.Train``; ``DataLoader.Eval`` is
optional. Output: ``Slim.ptq.output_dir``, default ``<model folder>/quant_post_static_model/``, with
``inference.pdmodel/.pdiparams``, verified against the FP32 model on real images before it is kept.
Without a ``Slim.ptq`` section (a plain PaddleClas model config, as in PaddleClas's PTQ tutorial)
the :class:`~ppslim.config.PtqConfig` defaults are used.
With ``Slim.ptq.engine: nncf`` (:mod:`ppslim.compress.nncf_ptq`) the output is an OpenVINO INT8 IR
(``inference.xml``/``.bin``) in ``Slim.ptq.output_dir``, default ``<model folder>/nncf_int8_model/``,
verified the same way with the openvino predictor that serves it.
With ``Slim.ptq.algo: auto`` (:mod:`ppslim.compress.ptq_search`) candidates' models are written to a
temp folder and scored on images held out of ``DataLoader.Train``; the best one is saved and verified
like a fixed algorithm's, the others are removed, and ``PtqResult.search`` holds the search table.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import artifacts, data, provenance
from ..config import Config, InferenceBackend, PtqAlgo, PtqConfig, PtqEngine, PtqSearchConfig
from ..data.transforms import build_transforms
from ..errors import ConfigError, PpslimError
from ..inference_model import model_outputs, save_verified
from ..predict import QUANT_OPS, Agreement, read_program_ops
from ..serve import backends
from ..compress import nncf_ptq, ptq_search

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


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
    # Slim.ptq.algo: auto: what was tried and kept (algo above is the kept candidate's algorithm).
    search: Optional[ptq_search.SearchRecord] = None
    overflow_fix: Optional[str] = None  # engine nncf: the weight range used (Slim.ptq.overflow_fix, auto resolved)


def settings(cfg: Config) -> PtqConfig:
    """``Slim.ptq``, or the defaults (logged) for a config without it."""
    if cfg.Slim.ptq is not None:
        return cfg.Slim.ptq
    ptq = PtqConfig()
    log.info("no Slim.ptq in the config: PTQ with the defaults algo=%s, batch_size=%d, batch_nums=%d, "
             "hist_percent=%s (set Slim.ptq.* to change them)", ptq.algo.value, ptq.batch_size, ptq.batch_nums,
             ptq.hist_percent)
    return ptq


def source(cfg: Config, ptq: PtqConfig) -> tuple[str, str]:
    """(FP32 model folder or file, the config key it came from)."""
    if ptq.model_dir:
        return ptq.model_dir, "Slim.ptq.model_dir"
    if cfg.Global.inference_model_dir:
        return cfg.Global.inference_model_dir, "Global.inference_model_dir"
    return cfg.Global.save_inference_dir, "Global.save_inference_dir"


def model_files(cfg: Config, ptq: PtqConfig) -> tuple[str, str]:
    src, key = source(cfg, ptq)
    return artifacts.inference_files(src, ptq.model_filename, ptq.params_filename, key=key,
                                     hint=f"Slim.ptq.model_filename / Slim.ptq.params_filename, or "
                                          f"{key}=<folder>/<name>.pdmodel")


@dataclass(frozen=True)
class Calibration:
    """The calibration images (paths, no labels needed) and their preprocessing, with the keys they came from."""
    files: tuple[str, ...]
    transform: object
    key: str
    transform_key: str

    def load(self, idx: int) -> np.ndarray:
        with open(self.files[idx], "rb") as f:
            return np.asarray(self.transform(f.read()), dtype="float32")

    def images(self, count: int) -> np.ndarray:
        return np.stack([self.load(i) for i in range(min(count, len(self.files)))])


def image_files(folder: str, key: str) -> tuple[str, ...]:
    if not os.path.isdir(folder):
        raise ConfigError(key, f"image folder not found: {folder!r}")
    files = sorted(os.path.join(root, n) for root, _, names in os.walk(folder) for n in names
                   if n.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ConfigError(key, f"{folder!r} holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    return tuple(files)


def calibration(cfg: Config, ptq: PtqConfig) -> Calibration:
    """``Slim.ptq.calib_dir`` (preprocessed like Infer images) when set, else the ``DataLoader.Train`` split."""
    if ptq.calib_dir:
        files = image_files(ptq.calib_dir, "Slim.ptq.calib_dir")
        if cfg.Infer is not None and cfg.Infer.transforms:  # inference ops end in ToCHWImage
            return Calibration(files, build_transforms(cfg.Infer.transforms, "Infer.transforms"),
                               "Slim.ptq.calib_dir", "Infer.transforms")
        for mode in ("Eval", "Train"):  # a split's ops run on HWC; the dataset's CHW step follows
            split = getattr(cfg.DataLoader, mode)
            if split is not None and split.dataset.transform_ops:
                return Calibration(files, data.eval_transform(cfg, mode), "Slim.ptq.calib_dir",
                                   f"DataLoader.{mode}.dataset.transform_ops")
        raise ConfigError("Infer.transforms", "Slim.ptq.calib_dir needs the preprocessing of its images: "
                          "set Infer.transforms (e.g. DecodeImage, ResizeImage, NormalizeImage, ToCHWImage)")
    if cfg.DataLoader.Train is None:
        raise ConfigError("DataLoader.Train", "PTQ needs calibration images: set DataLoader.Train (a labelled "
                          "split) or Slim.ptq.calib_dir (a folder of images, no labels)")
    key = "DataLoader.Train.dataset.transform_ops"
    files = tuple(path for path, _ in data.check_dataset(cfg, "Train"))
    return Calibration(files, data.eval_transform(cfg, "Train"), "DataLoader.Train.dataset", key)


def verification_images(cfg: Config, calib: Calibration) -> np.ndarray:
    """``DataLoader.Eval`` images when the config has them, else the first calibration images."""
    if cfg.DataLoader.Eval is not None:
        images, _ = data.real_images(cfg, cfg.Global.verify_images)
        return images
    return calib.images(cfg.Global.verify_images)


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


def check_sample_shape(calib: Calibration, feed_name: str, feed_shape: list) -> list:
    """The calibration transforms' output shape, checked against the model's input before any work."""
    sample_shape = list(calib.load(0).shape)
    expected = list(feed_shape[1:])
    if len(expected) != len(sample_shape) or any(e > 0 and e != s for e, s in zip(expected, sample_shape)):
        raise ConfigError(calib.transform_key,
                          f"produce images of shape {sample_shape}, the model's input {feed_name!r} wants {expected}")
    return sample_shape


def calibration_loader(calib: Calibration, feed_name: str, feed_shape: list, batch_size: int):
    """A real ``paddle.io.DataLoader`` with ``feed_list`` over the calibration images, as quant_post_static wants."""
    import paddle

    sample_shape = check_sample_shape(calib, feed_name, feed_shape)

    class Images(paddle.io.Dataset):
        def __len__(self):
            return len(calib.files)

        def __getitem__(self, idx):
            return (calib.load(idx),)

    image = paddle.static.data(name=feed_name, shape=[None, *sample_shape], dtype="float32")
    return paddle.io.DataLoader(Images(), feed_list=[image], places=paddle.CPUPlace(), batch_size=batch_size,
                                shuffle=False, drop_last=False, return_list=False), len(calib.files)


def explain_failure(exe, model_file: str, params_file: str, loader, error: Exception) -> Exception:
    """quant_post_static swallows the first error behind a bare ``except`` and then fails with an
    unrelated one. Only after a failure (so a good run pays nothing), run the FP32 program on one
    calibration batch: if that fails, its error is the one the user needs."""
    import paddle

    program, _, fetches = paddle.static.load_inference_model(
        os.path.dirname(model_file), exe, model_filename=os.path.basename(model_file),
        params_filename=os.path.basename(params_file))
    try:
        exe.run(program, feed=next(iter(loader)), fetch_list=fetches)
    except Exception as first:
        message = str(first).strip().splitlines()[-1][:300] if str(first).strip() else ""
        return PpslimError(f"the FP32 model fails on a calibration batch: {type(first).__name__}: {message}")
    return error


def quantize(ptq: PtqConfig, model_file: str, params_file: str, calib_set: Calibration, out_dir: str,
             calib: dict) -> None:
    """Calibrate on ``calib_set`` and write the quantized model into ``out_dir``.

    ``calib`` receives the numbers of batches and images actually used.
    """
    import paddle
    from paddleslim.quant import quant_post_static

    feed_name, feed_shape = feed_signature(model_file)
    with static_programs():
        exe = paddle.static.Executor(paddle.CPUPlace())
        loader, available = calibration_loader(calib_set, feed_name, feed_shape, ptq.batch_size)
        calib["batches"] = min(ptq.batch_nums, len(loader))
        calib["images"] = min(available, calib["batches"] * ptq.batch_size)
        if calib["images"] < ptq.batch_nums * ptq.batch_size:
            log.warning("only %d calibration images available (asked for %d x %d)", calib["images"],
                        ptq.batch_nums, ptq.batch_size)
        log.info("PTQ %s on %d images (%d batches of %d), onnx_format=%s", ptq.algo.value, calib["images"],
                 calib["batches"], ptq.batch_size, ptq.onnx_format)
        try:
            quant_post_static(
                executor=exe, model_dir=os.path.dirname(model_file), quantize_model_path=out_dir, data_loader=loader,
                model_filename=os.path.basename(model_file), params_filename=os.path.basename(params_file),
                save_model_filename=artifacts.MODEL_FILE, save_params_filename=artifacts.PARAMS_FILE,
                batch_size=ptq.batch_size, batch_nums=calib["batches"], algo=ptq.algo.value,
                hist_percent=ptq.hist_percent, weight_quantize_type=ptq.weight_quantize_type,
                round_type=ptq.round_type or "round", bias_correction=bool(ptq.bias_correction),
                onnx_format=ptq.onnx_format, quantizable_op_type=list(ptq.quantizable_op_type),
                skip_tensor_list=list(ptq.skip_tensor_list) or None)
        except Exception as e:
            raise explain_failure(exe, model_file, params_file, loader, e) from e


def fixed(cfg: Config, ptq: PtqConfig, model_file: str, params_file: str, calib_set: Calibration, out_dir: str,
          reference: np.ndarray, images: np.ndarray, nncf: bool):
    """One PTQ with the configured algorithm (or NNCF): (saved, algo, calib, None)."""
    g, calib = cfg.Global, {}

    def save(tmp_dir: str) -> None:
        if nncf:
            nncf_ptq.quantize(ptq, model_file, params_file, calib_set, tmp_dir, calib)
        else:
            quantize(ptq, model_file, params_file, calib_set, tmp_dir, calib)

    files = {"model_filename": artifacts.OV_MODEL_FILE, "params_filename": artifacts.OV_WEIGHTS_FILE} if nncf else {}
    saved = save_verified(cfg, out_dir, save, reference, f"PTQ ({'nncf' if nncf else ptq.algo.value})",
                          images=images, min_cosine=g.verify_int8_min_cosine,
                          min_agreement=g.verify_int8_min_top1_agreement, **files)
    return saved, "nncf" if nncf else ptq.algo.value, calib, None


def searched(cfg: Config, ptq: PtqConfig, model_file: str, params_file: str, holdout: ptq_search.Holdout,
             out_dir: str, reference: np.ndarray, images: np.ndarray):
    """``algo: auto``: search in a temp folder, then save and verify the best candidate like a fixed
    algorithm's output (the next best if the verification images refuse it): (saved, algo, calib, record)."""
    g = cfg.Global
    with tempfile.TemporaryDirectory(prefix="ppslim-ptq-search-") as work:
        outcome = ptq_search.search(cfg, ptq, model_file, params_file, holdout, work, quantize)

        def save_candidate(folder: str, name: str):
            def save(tmp_dir: str) -> None:
                for name in (artifacts.MODEL_FILE, artifacts.PARAMS_FILE):
                    shutil.copy2(os.path.join(folder, name), os.path.join(tmp_dir, name))
            return save_verified(cfg, out_dir, save, reference, f"PTQ (auto: {name})",
                                 images=images, min_cosine=g.verify_int8_min_cosine,
                                 min_agreement=g.verify_int8_min_top1_agreement)

        saved, row, candidate, calib, note = ptq_search.keep_best(outcome, save_candidate)
    record = ptq_search.record(outcome, row, (ptq.search or PtqSearchConfig()).score, note)
    log.info("PTQ search kept %s", record.summary)
    return saved, candidate.algo.value, calib, record


def run(cfg: Config) -> PtqResult:
    g, ptq = cfg.Global, settings(cfg)
    nncf = ptq.engine == PtqEngine.NNCF
    if nncf:
        nncf_ptq.check(cfg, ptq)
    model_file, params_file = model_files(cfg, ptq)
    src = os.path.dirname(model_file)
    read_program_ops(model_file)  # "not a Paddle model" fails here, before any data work
    calib_set = calibration(cfg, ptq)
    check_sample_shape(calib_set, *feed_signature(model_file))
    # algo auto: the scoring images are split off the calibration set now (a bad split fails before any work)
    holdout = ptq_search.holdout_split(cfg, ptq, ptq.search or PtqSearchConfig(), calib_set) \
        if ptq.algo == PtqAlgo.AUTO else None
    out_dir = ptq.output_dir or (artifacts.nncf_dir(src) if nncf else artifacts.ptq_dir(src))
    if os.path.abspath(out_dir) == os.path.abspath(src):
        raise ConfigError("Slim.ptq.output_dir", f"{out_dir!r} is the FP32 model's own folder; choose another")
    record = provenance.Record(cfg, "ptq", model_file)
    record.guard(out_dir, "Slim.ptq.output_dir")
    images = verification_images(cfg, calib_set)
    reference = model_outputs(cfg, model_file, params_file, images, InferenceBackend.ONEDNN)
    t0 = time.perf_counter()
    if ptq.algo == PtqAlgo.AUTO:
        saved, algo, calib, search = searched(cfg, ptq, model_file, params_file, holdout, out_dir, reference,
                                              images)
    else:
        saved, algo, calib, search = fixed(cfg, ptq, model_file, params_file, calib_set, out_dir, reference,
                                           images, nncf)
    quant_ops = (backends.openvino_ops(saved.model_file).count("FakeQuantize") if nncf else
                 sum(op in QUANT_OPS for op in read_program_ops(saved.model_file)))
    fp32_bytes = os.path.getsize(params_file)
    result = PtqResult(src, saved.model_dir, algo, ptq.onnx_format and not nncf, calib["batches"], calib["images"],
                       fp32_bytes, saved.params_bytes, round(saved.params_bytes / fp32_bytes, 4), quant_ops,
                       saved.backend, saved.agreement, round(time.perf_counter() - t0, 2), search,
                       calib.get("overflow_fix"))
    record.write_result(out_dir, result, out_dir)
    return result
