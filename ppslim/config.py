"""PaddleClas-shaped YAML config, ``-o Key.sub=value`` overrides, validated once into frozen dataclasses.

Stages never see dicts: :func:`load` returns a :class:`Config` whose every key was checked for name
and type. Paths on disk are checked by the stage that needs them, before any expensive work.
"""
from __future__ import annotations

import copy
import dataclasses
import enum
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import yaml

from . import paddleclas_keys, schema
from .errors import ConfigError


class StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


class Device(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class OptimizerName(StrEnum):
    MOMENTUM = "Momentum"
    SGD = "SGD"
    ADAM = "Adam"
    ADAMW = "AdamW"
    RMSPROP = "RMSProp"


class LrName(StrEnum):
    COSINE = "Cosine"
    PIECEWISE = "Piecewise"
    CONSTANT = "Constant"
    LINEAR = "Linear"
    STEP = "Step"
    MULTI_STEP = "MultiStepDecay"


class AmpLevel(StrEnum):
    O1 = "O1"
    O2 = "O2"


class EvalMode(StrEnum):
    CLASSIFICATION = "classification"
    RETRIEVAL = "retrieval"
    ADAFACE = "adaface"


class QuantMethod(StrEnum):
    QAT = "qat"
    PACT = "pact"


class PruneMethod(StrEnum):
    FPGM = "fpgm"
    L1_NORM = "l1_norm"


class PrunedRatioMode(StrEnum):
    """``Slim.prune.pruned_ratio`` solved for ``Slim.prune.target_flops_reduction`` instead of given:
    ``auto`` = per-layer ratios from PaddleSlim's sensitivity analysis (the least-hurt layers lose the
    most filters); ``uniform`` = one ratio for every Conv2D, the one that reaches the target."""
    AUTO = "auto"
    UNIFORM = "uniform"


class SensitivityMetric(StrEnum):
    """What ``pruned_ratio: auto`` scores a pruned layer by on its held-out Train images: ``top1``, or
    ``loss`` = exp(-cross-entropy), the geometric mean of the true class's probability (smooth where
    top-1 on training images is near 100% and moves by whole images)."""
    TOP1 = "top1"
    LOSS = "loss"


class PtqAlgo(StrEnum):
    """``Slim.ptq.algo``: PaddleSlim's calibration methods, or ``auto``: the strategy search of
    :mod:`ppslim.compress.ptq_search` over ``Slim.ptq.search``'s candidates."""
    KL = "KL"
    HIST = "hist"
    AVG = "avg"
    ABS_MAX = "abs_max"
    MSE = "mse"
    EMD = "emd"
    AUTO = "auto"


class SearchScore(StrEnum):
    """``Slim.ptq.search.score``: how a PTQ candidate is ranked on the held-out images."""
    TOP1 = "top1"       # top-1 on labelled held-out DataLoader.Train images (ties: cosine vs FP32)
    COSINE = "cosine"   # cosine of the logits vs FP32 on held-out calibration images (no labels needed)


class TieBreak(StrEnum):
    """``Slim.ptq.search.tie_break``: what decides between candidates with the same holdout top-1."""
    NLL = "nll"         # lower cross-entropy of the true labels on the holdout
    COSINE = "cosine"   # higher cosine of the logits vs FP32 on the holdout


class InferenceBackend(StrEnum):
    """How an inference model is run (:mod:`ppslim.serve.backends`). ``auto`` = what ``ppslim bench``
    measured fastest for this artifact on this CPU, else oneDNN (oneDNN INT8 for quantized programs,
    OpenVINO for an OpenVINO IR)."""
    AUTO = "auto"
    PLAIN = "plain"
    ONEDNN = "onednn"
    ONEDNN_INT8 = "onednn_int8"
    ONEDNN_BF16 = "onednn_bf16"   # Paddle Inference BF16: CPUs with avx512_bf16 or AMX
    OPENVINO = "openvino"         # the openvino runtime reads the Paddle model (or an NNCF INT8 IR) itself


class OpenVinoPrecision(StrEnum):
    """``Global.openvino_precision``: OpenVINO's INFERENCE_PRECISION_HINT. ``auto`` = OpenVINO's default
    (bf16 on CPUs with avx512_bf16 or AMX, else f32)."""
    AUTO = "auto"
    F32 = "f32"
    BF16 = "bf16"


class PtqEngine(StrEnum):
    """``Slim.ptq.engine``: PaddleSlim's quant_post_static (a Paddle INT8 program for oneDNN INT8), or
    NNCF on the OpenVINO model (an OpenVINO INT8 IR for the openvino backend)."""
    PADDLESLIM = "paddleslim"
    NNCF = "nncf"


class OverflowFix(StrEnum):
    """``Slim.ptq.overflow_fix`` (engine nncf): NNCF's weight range for CPUs whose INT8 dot products add pairs
    into 16 bits (AVX2 / AVX-512 without VNNI): ``enable`` (7-bit weights in every layer), ``first_layer``
    (NNCF's default), ``disable``; ``auto``: enable on a CPU without AVX-512 VNNI or AMX, else first_layer."""
    AUTO = "auto"
    ENABLE = "enable"
    FIRST_LAYER = "first_layer"
    DISABLE = "disable"


def at_least_one(obj, path: str, *keys: str, why: str = "") -> None:
    """Integer fields that must be >= 1 when set (``None`` means "use the default")."""
    for key in keys:
        value = getattr(obj, key)
        if value is not None and value < 1:
            raise ConfigError(f"{path}.{key}", f"expected an integer >= 1{why}, got {value}")


def positive(obj, path: str, *keys: str) -> None:
    """Number fields that must be > 0 when set."""
    for key in keys:
        value = getattr(obj, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{path}.{key}", f"expected a number > 0, got {value}")


@dataclass(frozen=True)
class OpSpec:
    """One PaddleClas list item such as ``{ResizeImage: {size: 32}}``."""
    name: str
    params: dict


def _ops(registry_name: str):
    """Field metadata telling :func:`_parse_ops` which registry validates this op list."""
    return field(default=(), metadata={"ops": registry_name})


@dataclass(frozen=True)
class GlobalConfig:
    device: Device = Device.CPU
    seed: int = 42
    epochs: int = 10
    output_dir: str = "./output"
    save_interval: int = 1
    eval_during_train: bool = True
    eval_interval: int = 1
    print_batch_step: int = 10
    pretrained_model: Optional[str] = None
    checkpoints: Optional[str] = None
    save_inference_dir: str = "./inference"
    inference_model_dir: Optional[str] = None
    inference_backend: InferenceBackend = InferenceBackend.AUTO
    image_shape: tuple[int, ...] = (3, 224, 224)
    cpu_threads: Optional[int] = None
    # Export/PTQ/QAT refuse an artifact whose outputs drift from the reference by more than this.
    verify_images: int = 64
    verify_min_cosine: float = 0.99
    verify_min_top1_agreement: float = 0.95
    # INT8 artifacts are compared with their fake-quant/FP32 source: rounding moves logits a little.
    verify_int8_min_cosine: float = 0.95
    verify_int8_min_top1_agreement: float = 0.90
    # PaddleClas engine keys (ppslim/paddleclas_keys.py says what each does here).
    use_visualdl: bool = False
    to_static: bool = False
    update_freq: int = 1
    eval_mode: EvalMode = EvalMode.CLASSIFICATION
    use_dali: bool = False
    image_channel: Optional[int] = None
    train_mode: Optional[str] = None
    start_eval_epoch: int = 0
    iter_per_epoch: Optional[int] = None
    use_multilabel: bool = False
    uniform_output_enabled: bool = False
    print_mem_info: bool = False
    class_num: Optional[int] = None
    # A stage refuses to replace an artifact made from other settings or another input unless this is true.
    overwrite: bool = False

    # Serving (ppslim.serve): OpenVINO's precision hint; its thread hints are cpu_threads and
    # openvino_streams (a batch split over that many parallel streams).
    openvino_precision: OpenVinoPrecision = OpenVinoPrecision.AUTO
    openvino_streams: int = 1

    def validate(self, path: str) -> None:
        at_least_one(self, path, "epochs", "save_interval", "eval_interval", "print_batch_step", "verify_images",
                     "cpu_threads", "update_freq", "iter_per_epoch", "openvino_streams")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"{path}.image_shape", f"expected [C, H, W] of positive integers, got {list(self.image_shape)}")
        paddleclas_keys.check_section(self, path)


@dataclass(frozen=True)
class ArchConfig:
    """``Arch``: the network. Keys other than the ones below are PaddleClas's keyword arguments for the
    network (``drop_path_rate``, ``use_ssld``, ``dropout_prob`` ...); they land in ``kwargs`` and are
    checked against the builder's signature here, without building anything."""
    name: str
    class_num: Optional[int] = None  # None: the builder's default (1000 for ppslim's own builders)
    import_path: Optional[str] = field(default=None, metadata={"key": "import"})
    scale: Optional[float] = None
    pretrained: Union[bool, str] = False
    params: dict = field(default_factory=dict)
    kwargs: dict = field(default_factory=dict, metadata={"key": "__kwargs__"})
    use_sync_bn: bool = False
    use_ml_decoder: bool = False
    # DistillationModel
    models: tuple[SubModelConfig, ...] = ()
    freeze_params_list: Optional[tuple[bool, ...]] = None
    pretrained_list: Optional[tuple[Optional[str], ...]] = None
    infer_model_name: Optional[str] = None

    @classmethod
    def from_config(cls, data: Any, path: str) -> "ArchConfig":
        """Split PaddleClas's flat ``Arch`` mapping into ppslim's fields and the builder's ``kwargs``."""
        if not isinstance(data, dict):
            return schema.build(cls, data, path)
        from .models import REFUSED

        if data.get("name") in REFUSED:  # before its nested keys raise something less to the point
            raise ConfigError(f"{path}.name", f"{data['name']}: {REFUSED[data['name']]}")
        known = {f.metadata.get("key", f.name) for f in dataclasses.fields(cls)} - {"__kwargs__"}
        own = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        if "__kwargs__" in data:  # to_config's own output read back
            extra = {**data["__kwargs__"], **{k: v for k, v in extra.items() if k != "__kwargs__"}}
        if extra:
            own["__kwargs__"] = extra
        return schema.build(cls, own, path)

    def to_config(self) -> dict:
        """The flat mapping :meth:`from_config` reads (``kwargs`` back beside ``name``)."""
        out = {"name": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            # The keys ppslim always wrote (pretrained, params) stay; PaddleClas's extra ones only when set.
            if f.name in ("name", "kwargs") or value is None or (
                    f.name not in ("pretrained", "params") and (value == f.default or value == ())):
                continue
            out[f.metadata.get("key", f.name)] = ([m.to_config() for m in value] if f.name == "models" else value)
        return {**out, **self.kwargs}

    def validate(self, path: str) -> None:
        at_least_one(self, path, "class_num")
        from .models import check_arch  # lazily: PaddleClas's zoo is imported only for its names

        check_arch(self, path)


@dataclass(frozen=True)
class SubModelConfig:
    """One item of ``Arch.models`` for ``DistillationModel``: ``{Teacher: {name: ResNet50_vd, ...}}``."""
    key: str
    arch: ArchConfig

    @classmethod
    def from_config(cls, data: Any, path: str) -> "SubModelConfig":
        if not isinstance(data, dict) or len(data) != 1:
            raise ConfigError(path, f"expected a one-key mapping like {{Student: {{name: ...}}}}, got {data!r}")
        (key, arch), = data.items()
        if not isinstance(key, str):
            raise ConfigError(path, f"expected a model name like Student, got {key!r}")
        return cls(key, ArchConfig.from_config(arch, f"{path}.{key}"))

    def to_config(self) -> dict:
        return {self.key: self.arch.to_config()}


@dataclass(frozen=True)
class LossConfig:
    Train: tuple[OpSpec, ...] = _ops("LOSSES")
    Eval: tuple[OpSpec, ...] = _ops("LOSSES")


@dataclass(frozen=True)
class LrConfig:
    """``Optimizer.lr``: PaddleClas's schedules (ppslim/train/optim.py builds them)."""
    name: LrName = LrName.COSINE
    learning_rate: float = 0.1
    warmup_epoch: int = 0
    warmup_start_lr: float = 0.0
    eta_min: float = 0.0
    decay_epochs: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    # Step: decay by gamma every step_size epochs (a float: 2.4 epochs); MultiStepDecay: at milestones.
    step_size: Optional[float] = None
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    # Linear (PolynomialDecay): learning_rate -> end_lr with this power.
    end_lr: float = 0.0
    power: float = 1.0
    # Step the schedule once per epoch instead of once per (accumulated) iteration.
    by_epoch: bool = False
    last_epoch: int = -1
    step_each_epoch: Optional[int] = None

    def validate(self, path: str) -> None:
        positive(self, path, "learning_rate", "step_size", "gamma")
        at_least_one(self, path, "step_each_epoch")
        if self.warmup_epoch < 0:
            raise ConfigError(f"{path}.warmup_epoch", f"expected an integer >= 0, got {self.warmup_epoch}")
        if self.name == LrName.PIECEWISE and self.values and len(self.values) != len(self.decay_epochs) + 1:
            raise ConfigError(f"{path}.values", f"Piecewise needs len(decay_epochs) + 1 = "
                              f"{len(self.decay_epochs) + 1} values, got {len(self.values)}")
        if self.name == LrName.PIECEWISE and self.decay_epochs and not self.values:
            raise ConfigError(f"{path}.values", "Piecewise with decay_epochs needs values")
        if self.name == LrName.STEP and self.step_size is None:
            raise ConfigError(f"{path}.step_size", "required by Step")
        if self.name == LrName.MULTI_STEP and not self.milestones:
            raise ConfigError(f"{path}.milestones", "required by MultiStepDecay")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ConfigError(f"{path}.milestones", f"expected increasing epochs, got {list(self.milestones)}")
        if self.last_epoch != -1:
            raise ConfigError(f"{path}.last_epoch", f"{self.last_epoch} not supported: only -1 (start fresh); "
                              "resume with Global.checkpoints, which restores the schedule")
        paddleclas_keys.check_section(self, path)


@dataclass(frozen=True)
class RegularizerConfig:
    name: str = "L2"
    coeff: float = 1e-4

    def validate(self, path: str) -> None:
        if self.name not in ("L2", "L1"):
            raise ConfigError(f"{path}.name", f"{self.name!r} not in [L1, L2]" + schema.did_you_mean(self.name, ["L1", "L2"]))


@dataclass(frozen=True)
class OptimizerConfig:
    """``Optimizer``: PaddleClas's optimizers and their keys (ppslim/train/optim.py builds them)."""
    name: OptimizerName = OptimizerName.MOMENTUM
    momentum: Optional[float] = None  # Momentum: 0.9, RMSProp: 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: Optional[float] = None  # Adam/AdamW: 1e-8, RMSProp: 1e-6
    rho: float = 0.95
    use_nesterov: bool = False
    lr: LrConfig = LrConfig()
    regularizer: Optional[RegularizerConfig] = None
    # A number: L2 coefficient for Momentum/SGD/Adam/RMSProp, decoupled decay for AdamW (as in paddle).
    weight_decay: Optional[float] = None
    # Space-separated substrings of parameter names kept out of weight decay; and all 1-D parameters.
    no_weight_decay_name: Optional[str] = None
    one_dim_param_no_weight_decay: bool = False
    clip_norm: Optional[float] = None   # per-parameter gradient norm (paddle.nn.ClipGradByNorm)
    clip_grad: Optional[float] = None   # global gradient norm (paddle.nn.ClipGradByGlobalNorm)
    multi_precision: bool = False

    def validate(self, path: str) -> None:
        positive(self, path, "clip_norm", "clip_grad", "epsilon")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ConfigError(f"{path}.weight_decay", f"expected a number >= 0, got {self.weight_decay}")
        if self.regularizer is not None and self.weight_decay is not None:
            raise ConfigError(f"{path}.weight_decay", "set either regularizer or weight_decay, not both "
                              "(PaddleClas drops weight_decay then)")
        if self.clip_norm is not None and self.clip_grad is not None:
            raise ConfigError(f"{path}.clip_grad", "set either clip_norm (per parameter) or clip_grad (global), not both")
        if self.use_nesterov and self.name != OptimizerName.MOMENTUM:
            raise ConfigError(f"{path}.use_nesterov", f"only Momentum has Nesterov momentum, not {self.name}")
        paddleclas_keys.check_section(self, path)


@dataclass(frozen=True)
class AmpConfig:
    """``AMP``: paddle.amp mixed precision (fp16 + GradScaler on GPU)."""
    use_amp: bool = True
    level: AmpLevel = AmpLevel.O1
    scale_loss: float = 1.0
    use_dynamic_loss_scaling: bool = False
    use_fp16_test: bool = False
    use_promote: bool = False

    def validate(self, path: str) -> None:
        positive(self, path, "scale_loss")


@dataclass(frozen=True)
class EmaConfig:
    """``EMA``: an exponential moving average of the weights, evaluated and saved as PaddleClas does."""
    decay: float = 0.9999

    def validate(self, path: str) -> None:
        if not 0.0 < self.decay < 1.0:
            raise ConfigError(f"{path}.decay", f"expected a value in (0, 1), got {self.decay}")


DATASETS = ("ImageNetDataset", "MultiScaleDataset")
# Dataset names in PaddleClas's configs that ppslim does not load, and why.
REFUSED_DATASETS = {
    "CompCars": "a vehicle re-identification dataset (PaddleClas ShiTu retrieval); ppslim compresses classifiers",
    "VeriWild": "a vehicle re-identification dataset (PaddleClas ShiTu retrieval); ppslim compresses classifiers",
    "MultiLabelDataset": "multi-label classification is not supported; use ImageNetDataset",
    "LogoDataset": "a retrieval dataset; ppslim compresses classifiers",
    "ICartoonDataset": "a retrieval dataset; ppslim compresses classifiers",
    "Market1501": "a person re-identification dataset; ppslim compresses classifiers",
    "MSMT17": "a person re-identification dataset; ppslim compresses classifiers",
    "DukeMTMC": "a person re-identification dataset; ppslim compresses classifiers",
    "MixDataset": "not supported; use ImageNetDataset",
    "CustomLabelDataset": "not supported; use ImageNetDataset",
    "Cifar10": "not supported (it downloads); write the images in the ImageNetDataset layout",
    "Cifar100": "not supported (it downloads); write the images in the ImageNetDataset layout",
}
SAMPLERS = ("DistributedBatchSampler", "BatchSampler", "MultiScaleSampler", "RASampler")
REFUSED_SAMPLERS = {
    "PKSampler": "P identities x K images per batch is for metric learning (retrieval); ppslim compresses classifiers",
    "DistributedRandomIdentitySampler": "an identity sampler for re-identification; ppslim compresses classifiers",
    "DomainShuffleBatchSampler": "a re-identification sampler (MetaBIN); ppslim compresses classifiers",
    "NaiveIdentityBatchSampler": "a re-identification sampler (MetaBIN); ppslim compresses classifiers",
    "MixSampler": "not supported (it pairs with MixDataset); use DistributedBatchSampler",
}
MULTI_SCALE_RESIZE_OPS = ("RandCropImage", "ResizeImage", "CropImage")


def _op_param(op: "OpSpec", key: str, default):
    return op.params.get(key, default)


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "ImageNetDataset"
    image_root: str = ""
    cls_label_path: str = ""
    delimiter: str = " "
    relabel: bool = False
    transform_ops: tuple[OpSpec, ...] = _ops("TRANSFORMS")
    batch_transform_ops: tuple[OpSpec, ...] = _ops("BATCH_TRANSFORMS")

    def validate(self, path: str) -> None:
        if self.name in REFUSED_DATASETS:
            raise ConfigError(f"{path}.name", f"{self.name!r} is not supported: {REFUSED_DATASETS[self.name]}")
        if self.name not in DATASETS:
            raise ConfigError(f"{path}.name", f"{self.name!r} not in {list(DATASETS)}"
                              + schema.did_you_mean(self.name, DATASETS))
        if self.relabel and self.name != "ImageNetDataset":
            raise ConfigError(f"{path}.relabel", f"only ImageNetDataset relabels (PaddleClas's {self.name} "
                              "takes no relabel)")
        # PaddleClas's datasets run the ops on HWC images and transpose to CHW after the last one.
        hwc = "the dataset runs its ops on HWC images and transposes to CHW after them (as PaddleClas's does)"
        for i, op in enumerate(self.transform_ops):
            where = f"{path}.transform_ops.{i}.{op.name}"
            if op.name == "ToCHWImage":
                raise ConfigError(where, f"{hwc}, so ToCHWImage here would transpose twice; remove it "
                                  "(Infer.transforms keeps it)")
            if op.name == "DecodeImage" and _op_param(op, "channel_first", False):
                raise ConfigError(f"{where}.channel_first", f"{hwc}; use false")
            if op.name == "NormalizeImage" and _op_param(op, "order", "chw") == "chw":
                raise ConfigError(f"{where}.order", f"'chw' (PaddleClas's default) does not fit: {hwc}; "
                                  "set order: ''")
        if self.name == "MultiScaleDataset" and not any(op.name in MULTI_SCALE_RESIZE_OPS
                                                        for op in self.transform_ops):
            raise ConfigError(f"{path}.transform_ops", "MultiScaleDataset sets each batch's size on a "
                              f"{'/'.join(MULTI_SCALE_RESIZE_OPS)} op; the list has none")


@dataclass(frozen=True)
class SamplerConfig:
    name: str = "DistributedBatchSampler"
    batch_size: int = 64
    drop_last: bool = False
    shuffle: bool = False
    # MultiScaleSampler only (PaddleClas's meaning): image sizes ([w, h] or int), the batch size at
    # the first one (others keep w * h * batch constant), sizes rounded down to divided_factor.
    scales: tuple[Union[int, tuple[int, ...]], ...] = ()
    first_bs: Optional[int] = None
    divided_factor: int = 32
    is_training: bool = True
    # RASampler only: how many times each image is repeated (each with its own augmentation).
    num_repeats: int = 3

    def validate(self, path: str) -> None:
        if self.name in REFUSED_SAMPLERS:
            raise ConfigError(f"{path}.name", f"{self.name!r} is not supported: {REFUSED_SAMPLERS[self.name]}")
        if self.name not in SAMPLERS:
            raise ConfigError(f"{path}.name", f"{self.name!r} not in {list(SAMPLERS)}"
                              + schema.did_you_mean(self.name, SAMPLERS))
        at_least_one(self, path, "batch_size", "first_bs", "divided_factor", "num_repeats")
        if self.name != "RASampler" and self.num_repeats != SamplerConfig.num_repeats:
            raise ConfigError(f"{path}.num_repeats", f"only RASampler takes num_repeats, not {self.name}")
        if self.name == "MultiScaleSampler":
            if not self.scales:
                raise ConfigError(f"{path}.scales", "MultiScaleSampler needs a list of sizes, e.g. [224, 256, 288]")
            for i, s in enumerate(self.scales):
                pair = (s, s) if isinstance(s, int) else s
                if len(pair) != 2 or min(pair) < self.divided_factor:
                    raise ConfigError(f"{path}.scales.{i}", f"expected an integer or [w, h] of at least "
                                      f"divided_factor={self.divided_factor}, got {s!r}")
            if self.first_bs is None:
                raise ConfigError(f"{path}.first_bs", "MultiScaleSampler needs the batch size at scales[0]")
        else:
            defaults = SamplerConfig()
            for key in ("scales", "first_bs", "divided_factor", "is_training"):
                if getattr(self, key) != getattr(defaults, key):
                    raise ConfigError(f"{path}.{key}", f"only MultiScaleSampler takes {key}, not {self.name}")


@dataclass(frozen=True)
class LoaderConfig:
    num_workers: int = 0
    use_shared_memory: bool = False


@dataclass(frozen=True)
class DataSectionConfig:
    dataset: DatasetConfig = DatasetConfig()
    sampler: SamplerConfig = SamplerConfig()
    loader: LoaderConfig = LoaderConfig()
    # PaddleClas's retrieval (ShiTu) evaluation: DataLoader.Eval.{Gallery,Query}; refused below.
    Gallery: Optional[dict] = None
    Query: Optional[dict] = None

    def validate(self, path: str) -> None:
        for key in ("Gallery", "Query"):
            if getattr(self, key) is not None:
                raise ConfigError(f"{path}.{key}", "gallery/query retrieval evaluation (PaddleClas ShiTu) is not "
                                  "supported; ppslim evaluates classifiers on DataLoader.Eval.dataset")
        multi_ds, multi_s = self.dataset.name == "MultiScaleDataset", self.sampler.name == "MultiScaleSampler"
        if multi_ds != multi_s:
            bad, key = ("dataset", self.dataset.name) if multi_ds else ("sampler", self.sampler.name)
            raise ConfigError(f"{path}.{bad}.name", f"{key} needs "
                              f"{'MultiScaleSampler' if multi_ds else 'MultiScaleDataset'} as the "
                              f"{'sampler' if multi_ds else 'dataset'} (they pass each batch's size between them)")


@dataclass(frozen=True)
class DataLoaderConfig:
    Train: Optional[DataSectionConfig] = None
    Eval: Optional[DataSectionConfig] = None


@dataclass(frozen=True)
class MetricConfig:
    Train: tuple[OpSpec, ...] = _ops("METRICS")
    Eval: tuple[OpSpec, ...] = _ops("METRICS")


@dataclass(frozen=True)
class PostProcessConfig:
    name: str = "Topk"
    topk: int = 5
    class_id_map_file: Optional[str] = None


@dataclass(frozen=True)
class InferConfig:
    infer_imgs: str = ""
    batch_size: int = 8
    transforms: tuple[OpSpec, ...] = _ops("TRANSFORMS")
    PostProcess: PostProcessConfig = PostProcessConfig()

    def validate(self, path: str) -> None:
        """PaddleClas's inference meaning: the ops see what the previous one made (HWC after
        DecodeImage, CHW after ToCHWImage) and the list must end in CHW for the network."""
        if not self.transforms:
            return
        chw = False
        for i, op in enumerate(self.transforms):
            where = f"{path}.transforms.{i}.{op.name}"
            if op.name == "DecodeImage":
                chw = bool(_op_param(op, "channel_first", False)) and _op_param(op, "to_np", True)
            elif op.name == "ToCHWImage":
                if chw:
                    raise ConfigError(where, "the image is already CHW here; remove this ToCHWImage")
                chw = True
            elif op.name == "NormalizeImage" and (_op_param(op, "order", "chw") == "chw") != chw:
                order = _op_param(op, "order", "chw")
                raise ConfigError(f"{where}.order", f"{order!r}{' (the default)' if 'order' not in op.params else ''}"
                                  f" does not fit the {'CHW' if chw else 'HWC'} image here; set order: "
                                  f"{'chw' if chw else repr('')}")
        if not chw:
            raise ConfigError(f"{path}.transforms", "must end with a CHW image for the network: add ToCHWImage "
                              "at the end, as PaddleClas's inference configs do")


@dataclass(frozen=True)
class DistillConfig:
    """``Slim.quant.distill``: QAT learns from a frozen FP32 teacher too. The training loss is
    ``Loss.Train + weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))`` on the logits
    (PaddleClas's ``DistillationKLDivLoss``). The teacher is the FP32 checkpoint QAT starts from
    (``Global.pretrained_model``, a pruned one included; else ``Arch.pretrained``) unless ``teacher``
    names another checkpoint of the same ``Arch``; a ``DistillationModel``'s teacher is its other member."""
    weight: float = 1.0
    temperature: float = 4.0
    teacher: Optional[str] = None

    def validate(self, path: str) -> None:
        for key in ("weight", "temperature"):
            if getattr(self, key) <= 0:
                off = "; remove Slim.quant.distill to train without distillation" if key == "weight" else ""
                raise ConfigError(f"{path}.{key}", f"expected a number > 0, got {getattr(self, key)}{off}")
        if self.teacher is not None and not self.teacher.strip():
            raise ConfigError(f"{path}.teacher", "expected a checkpoint prefix like output/X/best_model, got ''")


@dataclass(frozen=True)
class QuantConfig:
    name: QuantMethod = QuantMethod.QAT
    weight_quantize_type: str = "channel_wise_abs_max"
    activation_quantize_type: str = "moving_average_abs_max"
    weight_bits: int = 8
    activation_bits: int = 8
    quantizable_layer_type: tuple[str, ...] = ("Conv2D", "Linear")
    onnx_format: bool = True
    # Derive QAT LR (1/10 of train LR), epochs (1/3 of train epochs) and warmup from the FP32 recipe.
    derive_from_train: bool = False
    # Knowledge distillation from the FP32 model during QAT (None: off).
    distill: Optional[DistillConfig] = None

    def validate(self, path: str) -> None:
        for key in ("weight_bits", "activation_bits"):
            if not 2 <= getattr(self, key) <= 16:
                raise ConfigError(f"{path}.{key}", f"expected 2..16, got {getattr(self, key)}")
        valid_w = ["abs_max", "channel_wise_abs_max"]
        if self.weight_quantize_type not in valid_w:
            raise ConfigError(f"{path}.weight_quantize_type", f"{self.weight_quantize_type!r} not in {valid_w}")
        valid_a = ["moving_average_abs_max", "abs_max"]
        if self.activation_quantize_type not in valid_a:
            raise ConfigError(f"{path}.activation_quantize_type",
                              f"{self.activation_quantize_type!r} not in {valid_a}")
        valid_l = ["Conv2D", "Linear", "Conv2DTranspose"]
        for i, t in enumerate(self.quantizable_layer_type):
            if t not in valid_l:
                raise ConfigError(f"{path}.quantizable_layer_type.{i}", f"{t!r} not in {valid_l}"
                                  + schema.did_you_mean(t, valid_l))


@dataclass(frozen=True)
class PruneConfig:
    name: PruneMethod = PruneMethod.FPGM
    # A ratio for every Conv2D, a {weight: ratio} map, or auto / uniform (solved for target_flops_reduction).
    pruned_ratio: Union[float, dict[str, float], PrunedRatioMode] = 0.3
    target_flops_reduction: Optional[float] = None
    # pruned_ratio: auto only (default when unset): how many Train images score the pruned layers (a
    # deterministic, evenly spaced part of DataLoader.Train preprocessed with DataLoader.Eval's ops; the
    # Eval split is never used), the score, and where the analysis is cached (keyed by weights + settings).
    sensitivity_images: Optional[int] = None
    sensitivity_metric: Optional[SensitivityMetric] = None
    sensitivity_cache_dir: Optional[str] = None
    # Fine-tuning after pruning; default: Global.epochs and Optimizer.lr.learning_rate.
    finetune_epochs: Optional[int] = None
    finetune_lr: Optional[float] = None

    SENSITIVITY_IMAGES = 256
    SENSITIVITY_METRIC = SensitivityMetric.TOP1

    @property
    def mode(self) -> Optional[PrunedRatioMode]:
        """``auto`` / ``uniform`` when the ratios are solved for the FLOPs target, ``None`` when given."""
        return self.pruned_ratio if isinstance(self.pruned_ratio, PrunedRatioMode) else None

    def validate(self, path: str) -> None:
        if self.mode is None:
            ratios = self.pruned_ratio.items() if isinstance(self.pruned_ratio, dict) else [("", self.pruned_ratio)]
            for key, ratio in ratios:
                if not 0.0 < ratio < 1.0:
                    where = f"{path}.pruned_ratio" + (f".{key}" if key else "")
                    raise ConfigError(where, f"expected a ratio in (0, 1), got {ratio}")
            if self.target_flops_reduction is not None:
                raise ConfigError(f"{path}.target_flops_reduction", f"only used with pruned_ratio: auto "
                                  f"(sensitivity-guided) or uniform (one ratio solved for the target), but "
                                  f"pruned_ratio is {_show_ratio(self.pruned_ratio)}")
        elif self.target_flops_reduction is None:
            raise ConfigError(f"{path}.target_flops_reduction", f"required by pruned_ratio: {self.mode.value}: "
                              "the share of FLOPs to remove, in (0, 1), e.g. 0.5")
        elif not 0.0 < self.target_flops_reduction < 1.0:
            raise ConfigError(f"{path}.target_flops_reduction",
                              f"expected a share of FLOPs in (0, 1), got {self.target_flops_reduction}")
        if self.mode != PrunedRatioMode.AUTO:
            for key in ("sensitivity_images", "sensitivity_metric", "sensitivity_cache_dir"):
                if getattr(self, key) is not None:
                    raise ConfigError(f"{path}.{key}", "only used with pruned_ratio: auto (sensitivity-guided "
                                      f"pruning), but pruned_ratio is {_show_ratio(self.pruned_ratio)}")
        at_least_one(self, path, "finetune_epochs", "sensitivity_images")
        positive(self, path, "finetune_lr")

WEIGHT_QUANTIZE_TYPES = ("channel_wise_abs_max", "abs_max")
ROUND_TYPES = ("round", "adaround")


@dataclass(frozen=True)
class PtqSearchConfig:
    """``Slim.ptq.search``: what ``Slim.ptq.algo: auto`` tries (:mod:`ppslim.compress.ptq_search`).

    Candidates run in a fixed order: every algorithm (``hist`` once per ``hist_percents`` value) with the
    first value of each list below, then on the best so far each other value of ``weight_quantize_types``,
    ``round_types`` and ``bias_correction`` (kept when it scores better), then the best with its ``k`` most
    sensitive layers left in FP32 for each ``k`` in ``skip_layers``."""
    algos: tuple[PtqAlgo, ...] = (PtqAlgo.HIST, PtqAlgo.AVG, PtqAlgo.MSE, PtqAlgo.ABS_MAX, PtqAlgo.EMD)
    hist_percents: tuple[float, ...] = (0.99999, 0.9999, 0.999)
    weight_quantize_types: tuple[str, ...] = WEIGHT_QUANTIZE_TYPES
    # AdaRound and bias correction can be listed ([round, adaround], [false, true]); not by default: with
    # paddle 2.6.2 / paddleslim 2.6.0 quant_post_static's AdaRound gave garbage outputs (cosine ~0 vs FP32,
    # refused) with every algorithm tried, and with onnx_format it is where bias correction applies.
    round_types: tuple[str, ...] = ("round",)
    bias_correction: tuple[bool, ...] = (False,)
    skip_layers: tuple[int, ...] = (1, 2, 4)
    # Labelled DataLoader.Train images held out of calibration and scored (score: top1), or calibration
    # images held out (score: cosine). The split keeps batch_size x batch_nums images for calibration when
    # it has them, and the holdout at least a quarter of the split.
    holdout_images: int = 256
    # Held-out images the per-layer quantization error is measured on (for skip_layers).
    sensitivity_images: int = 32
    score: SearchScore = SearchScore.TOP1
    # score top1 only (default nll): a model trained on the Train split often scores top-1 1.0 on every
    # candidate there, so this decides. Measured on digits_hard, the holdout's cross-entropy ranked the
    # candidates like their val top-1 and the cosine did not (README, PTQ search).
    tie_break: Optional[TieBreak] = None
    # score top1 only (default 0.05): the best-ranked candidate replaces the baseline (the first candidate:
    # PaddleSlim's default hist(0.99999) with the default lists) only when the holdout shows it is better beyond
    # chance: a higher top-1 with one-sided exact McNemar p < significance, or a top-1 no lower and a lower
    # per-image cross-entropy with one-sided paired t-test p < significance. 1 = the ranking alone. Measured on
    # 14 trained models (README, PTQ search): without it the pick fell below the best fixed algorithm's val
    # top-1 on 7 of 14, with it on 3 of 14.
    significance: Optional[float] = None
    # Deterministic bound: candidates after this many are listed as "skipped: max_candidates".
    max_candidates: Optional[int] = None
    # Wall-clock safety bound: no candidate after the first starts after this many seconds ("skipped: budget").
    budget_s: float = 1800.0

    def validate(self, path: str) -> None:
        if not self.algos:
            raise ConfigError(f"{path}.algos", "expected at least one algorithm")
        for i, algo in enumerate(self.algos):
            if algo == PtqAlgo.AUTO:
                raise ConfigError(f"{path}.algos.{i}", "'auto' is the search itself; list PaddleSlim algorithms "
                                  f"{[a.value for a in PtqAlgo if a != PtqAlgo.AUTO]}")
        if len(set(self.algos)) != len(self.algos):
            raise ConfigError(f"{path}.algos", f"an algorithm is listed twice: {[a.value for a in self.algos]}")
        if PtqAlgo.HIST in self.algos and not self.hist_percents:
            raise ConfigError(f"{path}.hist_percents", "expected at least one value (algos lists hist)")
        for i, value in enumerate(self.hist_percents):
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{path}.hist_percents.{i}", f"expected a value in (0, 1], got {value}")
        for key, valid in (("weight_quantize_types", WEIGHT_QUANTIZE_TYPES), ("round_types", ROUND_TYPES),
                           ("bias_correction", (False, True))):
            values = getattr(self, key)
            if not values:
                raise ConfigError(f"{path}.{key}", f"expected at least one of {list(valid)}")
            for i, value in enumerate(values):
                if value not in valid:
                    raise ConfigError(f"{path}.{key}.{i}", f"{value!r} not in {list(valid)}"
                                      + schema.did_you_mean(value, valid))
            if len(set(values)) != len(values):
                raise ConfigError(f"{path}.{key}", f"a value is listed twice: {list(values)}")
        for i, k in enumerate(self.skip_layers):
            if k < 1:
                raise ConfigError(f"{path}.skip_layers.{i}", f"expected a layer count >= 1, got {k}")
        at_least_one(self, path, "holdout_images", "sensitivity_images", "max_candidates")
        positive(self, path, "budget_s")
        if self.tie_break is not None and self.score != SearchScore.TOP1:
            raise ConfigError(f"{path}.tie_break", f"breaks ties of score top1; score {self.score.value} ranks by "
                              "the cosine alone: remove tie_break or set score top1")
        if self.significance is not None:
            if self.score != SearchScore.TOP1:
                raise ConfigError(f"{path}.significance", f"tests on the labels of score top1; score "
                                  f"{self.score.value} has none: remove significance or set score top1")
            if not 0.0 < self.significance <= 1.0:
                raise ConfigError(f"{path}.significance", f"expected a p-value in (0, 1], got {self.significance}")

    @property
    def alpha(self) -> float:
        """The p-value below which the best-ranked candidate replaces the baseline (score top1)."""
        return 0.05 if self.significance is None else self.significance


def _show_ratio(value) -> str:
    return "a per-layer map" if isinstance(value, dict) else str(value)


@dataclass(frozen=True)
class PtqConfig:
    """``Slim.ptq``; when the section is absent, ``ppslim ptq`` uses these defaults (PaddleClas's
    quant_post_static.py: hist, 10 batches) and says so in one log line."""
    algo: PtqAlgo = PtqAlgo.HIST
    batch_size: int = 16
    batch_nums: int = 10
    hist_percent: float = 0.99999
    weight_quantize_type: str = "channel_wise_abs_max"
    onnx_format: bool = True
    # PaddleSlim's round_type (round | adaround) and bias_correction; unset: round, false.
    round_type: Optional[str] = None
    bias_correction: Optional[bool] = None
    quantizable_op_type: tuple[str, ...] = ("conv2d", "depthwise_conv2d", "mul", "matmul", "matmul_v2")
    # File names inside the model folder; default: its single *.pdmodel + *.pdiparams pair.
    model_filename: Optional[str] = None
    params_filename: Optional[str] = None
    skip_tensor_list: tuple[str, ...] = ()
    # The FP32 model (folder or .pdmodel file); default Global.inference_model_dir, then Global.save_inference_dir.
    model_dir: Optional[str] = None
    # Where the INT8 model goes; default <model folder>/quant_post_static_model (PaddleClas's place).
    output_dir: Optional[str] = None
    # A folder of images without labels to calibrate on (searched recursively), preprocessed with
    # Infer.transforms (else DataLoader.Eval's, else DataLoader.Train's ops); default: DataLoader.Train.
    calib_dir: Optional[str] = None
    engine: PtqEngine = PtqEngine.PADDLESLIM  # nncf: ppslim.compress.nncf_ptq
    # engine nncf only; default auto (ppslim.compress.nncf_ptq.overflow_fix).
    overflow_fix: Optional[OverflowFix] = None
    # algo: auto only; default PtqSearchConfig() then.
    search: Optional[PtqSearchConfig] = None

    def validate(self, path: str) -> None:
        at_least_one(self, path, "batch_size", "batch_nums", why=" (calibration needs images)")
        if self.overflow_fix is not None and self.engine != PtqEngine.NNCF:
            raise ConfigError(f"{path}.overflow_fix", "is NNCF's setting (engine nncf); PaddleSlim's INT8 programs "
                              "have none (Paddle's oneDNN INT8 requantizes the weights to 8 bits itself)")
        if self.search is not None and self.algo != PtqAlgo.AUTO:
            raise ConfigError(f"{path}.search", f"tunes the search of algo auto, but algo is {self.algo.value}: "
                              f"set {path}.algo=auto or remove {path}.search")
        if self.algo == PtqAlgo.AUTO:  # the search tries these itself: a fixed value would be quietly replaced
            for key, where in (("hist_percent", "hist_percents"), ("weight_quantize_type", "weight_quantize_types"),
                               ("round_type", "round_types"), ("bias_correction", "bias_correction")):
                if getattr(self, key) != getattr(PtqConfig, key):
                    raise ConfigError(f"{path}.{key}", f"algo auto tries {path}.search.{where}; set the values "
                                      f"to try there, or a fixed algo to use {key} {getattr(self, key)!r}")
        if not 0.0 < self.hist_percent <= 1.0:
            raise ConfigError(f"{path}.hist_percent", f"expected a value in (0, 1], got {self.hist_percent}")
        valid_w = ["abs_max", "channel_wise_abs_max"]
        if self.weight_quantize_type not in valid_w:
            raise ConfigError(f"{path}.weight_quantize_type", f"{self.weight_quantize_type!r} not in {valid_w}")
        if self.round_type is not None and self.round_type not in ROUND_TYPES:
            raise ConfigError(f"{path}.round_type", f"{self.round_type!r} not in {list(ROUND_TYPES)}"
                              + schema.did_you_mean(self.round_type, ROUND_TYPES))
        if self.bias_correction and self.onnx_format and self.round_type != "adaround":
            # quant_post_static hands bias_correction only to AdaRound and to the legacy format's freeze pass
            raise ConfigError(f"{path}.bias_correction", "PaddleSlim applies bias correction with onnx_format true "
                              "only inside AdaRound: also set round_type adaround, or onnx_format false")
        for key, suffix in (("model_filename", ".pdmodel"), ("params_filename", ".pdiparams")):
            value = getattr(self, key)
            if value is not None and (not value.endswith(suffix) or os.sep in value):
                raise ConfigError(f"{path}.{key}", f"expected a file name ending in {suffix}, got {value!r}")


# What paddle_lite_opt 2.13rc0 accepts as --valid_targets.
LITE_TARGETS = ("arm", "opencl", "x86", "metal", "xpu", "host", "cambricon_mlu", "huawei_ascend_npu",
                "imagination_nna", "mediatek_apu", "huawei_kirin_npu", "verisilicon_timvx", "android_nnapi",
                "eeasytech_npu", "qualcomm_qnn", "kunlunxin_xtcl")


@dataclass(frozen=True)
class LiteConfig:
    valid_targets: tuple[str, ...] = ("arm",)
    model_dir: Optional[str] = None
    optimize_out: Optional[str] = None

    def validate(self, path: str) -> None:
        if not self.valid_targets:
            raise ConfigError(f"{path}.valid_targets", f"expected at least one of {list(LITE_TARGETS)}")
        for i, target in enumerate(self.valid_targets):
            for part in target.split(","):  # "opencl,arm": OpenCL with ARM CPU fallback
                if part not in LITE_TARGETS:
                    raise ConfigError(f"{path}.valid_targets.{i}", f"{part!r} not in {list(LITE_TARGETS)}"
                                      + schema.did_you_mean(part, LITE_TARGETS))


@dataclass(frozen=True)
class LatencyModelConfig:
    """One standard architecture timed by ``ppslim bench``: trained once on the digits (cached), scored at their
    resolution, timed at ``Bench.image_size`` on every backend that applies."""
    arch: str
    # PTQ algorithms tried in order; the first whose INT8 model passes verification is timed, refusals
    # are reported (mobilenet_v3_large + hist is refused under oneDNN INT8, avg passes).
    ptq_algos: tuple[PtqAlgo, ...] = (PtqAlgo.HIST,)
    # Also time an FPGM-pruned copy (and its INT8 model) at this ratio.
    pruned_ratio: Optional[float] = None

    def validate(self, path: str) -> None:
        if not self.ptq_algos:
            raise ConfigError(f"{path}.ptq_algos", "expected at least one PTQ algorithm")
        if self.pruned_ratio is not None and not 0.0 < self.pruned_ratio < 1.0:
            raise ConfigError(f"{path}.pruned_ratio", f"expected a ratio in (0, 1), got {self.pruned_ratio}")


@dataclass(frozen=True)
class BenchSearchConfig:
    """``Bench.search``: compression that finds its own best, against the fixed recipe it must beat, on a setting
    where FP32 is well below 100% (``setting``: a folder of stage configs, configs/digits_hard)."""
    # The unsaturated setting, relative to the bench config file: a folder holding train.yaml (the FP32 recipe),
    # ptq.yaml (Slim.ptq.algo: auto), qat.yaml (Slim.quant.distill) and prune.yaml (Slim.prune.pruned_ratio:
    # auto with target_flops_reduction), each what a user would run with ppslim <stage> -c.
    setting: str = ""
    # Fixed PTQ algorithms auto PTQ is compared with (on this setting; the digits and latency models use
    # Bench.ptq_algos and latency_models[].ptq_algos).
    ptq_algos: tuple[PtqAlgo, ...] = (PtqAlgo.HIST, PtqAlgo.AVG, PtqAlgo.MSE, PtqAlgo.KL)
    # QAT with and without distillation runs at this many seeds (qat.yaml's Global.seed and the next ones); the
    # bar compares the means, since one seed's best epoch moves top-1 by more than the margin being measured.
    qat_seeds: int = 3

    def validate(self, path: str) -> None:
        if self.qat_seeds < 1:
            raise ConfigError(f"{path}.qat_seeds", f"expected a number of seeds >= 1, got {self.qat_seeds}")
        if not self.setting:
            raise ConfigError(f"{path}.setting", "expected the unsaturated setting's folder of stage configs (e.g. "
                              "../digits_hard, relative to the bench config)")
        if not self.ptq_algos:
            raise ConfigError(f"{path}.ptq_algos", "expected at least one fixed PTQ algorithm to compare with")


@dataclass(frozen=True)
class BenchConfig:
    """``ppslim bench``: what is compared, how it is timed, where the report goes."""
    output_dir: str = "./bench"
    # Digits accuracy table: one PTQ row per algorithm, one pruned row per method.
    ptq_algos: tuple[PtqAlgo, ...] = (PtqAlgo.KL, PtqAlgo.HIST, PtqAlgo.AVG, PtqAlgo.MSE)
    prune_methods: tuple[PruneMethod, ...] = (PruneMethod.FPGM, PruneMethod.L1_NORM)
    # Latency table: standard architectures at their real input size, calibrated on real images resized to it.
    latency_models: tuple[LatencyModelConfig, ...] = ()
    image_size: int = 224
    class_num: int = 1000
    calib_batch_size: int = 8
    calib_batch_nums: int = 4
    # The latency models' INT8 check uses this top-1 agreement bar instead of
    # Global.verify_int8_min_top1_agreement when set (they are trained now, so by default the usual bar holds).
    latency_min_top1_agreement: Optional[float] = None
    # The architecture whose PTQ is also run through paddleslim.quant.quant_post_static directly.
    overhead_arch: Optional[str] = None
    # Timed in pairs, alternating which goes first (direct, ppslim, ppslim, direct, ...), so warm caches and
    # machine drift favour neither; the ratio is total ppslim time / total direct time.
    overhead_pairs: int = 2
    batch_sizes: tuple[int, ...] = (1, 16)
    warmup: int = 5
    repeats: int = 20
    threads: Optional[int] = None  # default: every core
    # Before each timed round, wait up to this long for other processes to leave the CPU alone.
    quiet_wait_s: float = 2.0
    # Latency models are trained once (cached under <output_dir>/cache) on DataLoader.Train at its own
    # resolution for this many epochs (their pruned copies fine-tuned for latency_finetune_epochs),
    # exported with any input size, scored on DataLoader.Eval and timed at image_size.
    latency_train_epochs: int = 10
    latency_finetune_epochs: int = 2
    # ~1,400 training images: small batches give deep networks enough SGD steps in a few epochs.
    latency_train_batch_size: int = 16
    latency_train_lr: float = 0.02
    # A serving (BF16 / INT8 backend) whose top-1 falls further below the FP32 artifact on Paddle oneDNN
    # than this is refused, not timed.
    max_bf16_drop_pt: float = 0.1
    max_int8_drop_pt: float = 0.5
    # Issue 11's section (PTQ search, distillation QAT, sensitivity pruning on an unsaturated setting); off when unset.
    search: Optional[BenchSearchConfig] = None

    def validate(self, path: str) -> None:
        at_least_one(self, path, "image_size", "class_num", "calib_batch_size", "calib_batch_nums", "repeats",
                     "threads", "overhead_pairs", "latency_train_epochs", "latency_finetune_epochs",
                     "latency_train_batch_size")
        positive(self, path, "latency_train_lr")
        for key in ("max_bf16_drop_pt", "max_int8_drop_pt"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}", f"expected points >= 0, got {getattr(self, key)}")
        if self.latency_min_top1_agreement is not None and not 0.0 <= self.latency_min_top1_agreement <= 1.0:
            raise ConfigError(f"{path}.latency_min_top1_agreement",
                              f"expected a share in [0, 1], got {self.latency_min_top1_agreement}")
        if self.quiet_wait_s < 0:
            raise ConfigError(f"{path}.quiet_wait_s", f"expected seconds >= 0, got {self.quiet_wait_s}")
        if self.warmup < 0:
            raise ConfigError(f"{path}.warmup", f"expected an integer >= 0, got {self.warmup}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ConfigError(f"{path}.batch_sizes", f"expected positive integers, got {list(self.batch_sizes)}")
        archs = [m.arch for m in self.latency_models]
        if self.overhead_arch is not None and self.overhead_arch not in archs:
            raise ConfigError(f"{path}.overhead_arch", f"{self.overhead_arch!r} not in latency_models {archs}")
        for i, m in enumerate(self.latency_models):
            if m.arch == self.overhead_arch and m.ptq_algos[0] == PtqAlgo.AUTO:
                raise ConfigError(f"{path}.latency_models.{i}.ptq_algos", f"{m.arch} is overhead_arch: its first "
                                  "algorithm is also run through quant_post_static directly, so it must be a fixed "
                                  "one, not auto")


@dataclass(frozen=True)
class SlimConfig:
    quant: Optional[QuantConfig] = None
    prune: Optional[PruneConfig] = None
    ptq: Optional[PtqConfig] = None
    lite: Optional[LiteConfig] = None


@dataclass(frozen=True)
class Config:
    Global: GlobalConfig = GlobalConfig()
    Arch: Optional[ArchConfig] = None
    Loss: LossConfig = LossConfig()
    Optimizer: OptimizerConfig = OptimizerConfig()
    AMP: Optional[AmpConfig] = None
    EMA: Optional[EmaConfig] = None
    DataLoader: DataLoaderConfig = DataLoaderConfig()
    Metric: MetricConfig = MetricConfig()
    Infer: Optional[InferConfig] = None
    Slim: SlimConfig = SlimConfig()
    Bench: Optional[BenchConfig] = None
    source: str = field(default="", metadata={"key": "__source__"})

    def validate(self, path: str) -> None:
        self._check_fp16_input()
        if self.Arch is None:
            return
        self._check_quant_distill()
        members = [("Arch", self.Arch)] + [(f"Arch.models.{i}.{m.key}", m.arch) for i, m in enumerate(self.Arch.models)]
        for where, arch in members:
            if arch.use_sync_bn and self.Global.device != Device.GPU:
                # PaddleClas logs a warning and trains with plain BatchNorm; ppslim does not change the recipe quietly.
                raise ConfigError(f"{where}.use_sync_bn", f"SyncBatchNorm needs Global.device: gpu (it is "
                                  f"{self.Global.device.value}); set {where}.use_sync_bn=false to train with BatchNorm")

    def _check_quant_distill(self) -> None:
        """``Slim.quant.distill`` on a ``DistillationModel``: the teacher is its other member, not a checkpoint."""
        distill = self.Slim.quant.distill if self.Slim.quant is not None else None
        if distill is None or self.Arch.name != "DistillationModel" or self.Arch.import_path:
            return
        from .distill import teacher_key

        key = teacher_key(self.Arch)
        if distill.teacher is not None:
            raise ConfigError("Slim.quant.distill.teacher", f"a DistillationModel teaches from its member {key!r}, "
                              "whose weights come from Global.pretrained_model or Arch.pretrained_list; remove teacher")

    def _check_fp16_input(self) -> None:
        """``NormalizeImage.output_fp16`` feeds float16 images: only a pure-fp16 (AMP O2) network takes them."""
        amp_o2 = self.AMP is not None and self.AMP.use_amp and self.AMP.level == AmpLevel.O2
        for mode in ("Train", "Eval"):
            split = getattr(self.DataLoader, mode)
            for i, op in enumerate(split.dataset.transform_ops if split is not None else ()):
                if op.name == "NormalizeImage" and op.params.get("output_fp16") and not amp_o2:
                    raise ConfigError(f"DataLoader.{mode}.dataset.transform_ops.{i}.NormalizeImage.output_fp16",
                                      "float16 images need a pure-fp16 network: set AMP.level O2 (as PaddleClas's "
                                      "configs that use it do), or output_fp16: false")

    def require(self, section: str):
        """Return a section a stage cannot work without, or raise naming it."""
        value: Any = self
        for part in section.split("."):
            value = getattr(value, part)
            if value is None:
                raise ConfigError(section, "required by this stage but missing from the config")
        return value


# ------------------------------------------------------------------------------- op lists
def _parse_ops(raw: Any, path: str, registry_name: str) -> list:
    """Validate a list of ``{Name: {params}}`` items against the op registry named in the schema."""
    from . import registries  # lazily: registries import paddle.vision only when ops are built

    registry = getattr(registries, registry_name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(path, f"expected a list of {{Name: {{...}}}} items, got {raw!r}")
    specs = []
    for i, entry in enumerate(raw):
        name, params = registry.check(entry, f"{path}.{i}")
        specs.append({"name": name, "params": params})
    return specs


def _normalise_ops(cls, data: Any, path: str) -> Any:
    """Rewrite op-list fields of ``cls`` in ``data`` into ``OpSpec`` mappings, recursing into sections."""
    if not isinstance(data, dict) or not dataclasses.is_dataclass(cls):
        return data
    import typing
    hints = typing.get_type_hints(cls)
    out = dict(data)
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key", f.name)
        if key not in out:
            continue
        sub = f"{path}.{key}" if path else key
        if "ops" in f.metadata:
            out[key] = _parse_ops(out[key], sub, f.metadata["ops"])
            continue
        tp = hints[f.name]
        for candidate in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(candidate):
                out[key] = _normalise_ops(candidate, out[key], sub)
                break
    return out


# ------------------------------------------------------------------------------- overrides
class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-4`` as a float (PyYAML's YAML 1.1 rules need a dot:
    ``1.0e-4``), so ``-o Optimizer.regularizer.coeff=1e-4`` is the number users mean."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _yaml_load(stream):
    return yaml.load(stream, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"Global.epochs=3"`` -> (["Global", "epochs"], 3). Values are YAML-typed (lists, bools, null)."""
    if "=" not in text:
        raise ConfigError(text, "override must look like Section.key=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(key, "override key must be a dotted path like Global.epochs")
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(key, f"value {raw!r} is not valid YAML: {e.problem}") from None
    return parts, value


def apply_override(data: dict, parts: list[str], value: Any) -> None:
    """Set ``value`` at ``parts`` in nested dicts/lists, creating mappings for new keys.

    Unknown keys are not rejected here: the typed build that follows rejects them with a hint.
    """
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(where, f"expected a list index below {len(node)}")
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError(where, f"cannot set a key inside {type(node).__name__} value {node!r}")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]


def read_yaml(path: str, _seen: tuple = ()) -> dict:
    """Read a config; ``_BASE_: other.yaml`` (relative to this file) is read first and deep-merged
    under it, as in PaddleDetection/PaddleSeg, so a QAT config states only what differs."""
    if not os.path.isfile(path):
        raise ConfigError(_seen[-1] + " _BASE_" if _seen else "-c", f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = _yaml_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(path, f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "expected a YAML mapping with sections Global, Arch, ...")
    base = data.pop("_BASE_", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: _BASE_", f"expected a file name, got {base!r}")
    base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
    if os.path.abspath(base_path) in _seen:
        raise ConfigError(f"{path}: _BASE_", f"include cycle through {base_path}")
    return deep_merge(read_yaml(base_path, _seen + (os.path.abspath(path),)), data)


def deep_merge(base: dict, top: dict) -> dict:
    """``top`` wins; mappings merge key by key, everything else (lists included) is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def from_dict(data: dict, overrides: list[str] = (), source: str = "") -> Config:
    """Validate raw config data plus ``Key=value`` overrides into a :class:`Config`."""
    data = paddleclas_keys.literal_none(copy.deepcopy(data))
    for text in overrides:
        apply_override(data, *parse_override(text))
    data = _normalise_ops(Config, data, "")
    if source:
        data["__source__"] = source
    return schema.build(Config, data, "")


def load(path: str, overrides: list[str] = ()) -> Config:
    """Read the YAML at ``path``, apply overrides, and validate everything once.

    :raises ConfigError: naming the first bad key path, before any expensive work starts.
    """
    return from_dict(read_yaml(path), overrides, source=os.path.abspath(path))


def to_dict(cfg: Config) -> dict:
    """The config back as plain data (enums as strings), e.g. for result files and k8s ConfigMaps."""
    def plain(v):
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, OpSpec):
            return {v.name: plain(v.params)}
        if hasattr(v, "to_config"):
            return plain(v.to_config())
        if dataclasses.is_dataclass(v):
            return {f.metadata.get("key", f.name): plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                    if f.name != "source" and getattr(v, f.name) is not None}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(cfg)
