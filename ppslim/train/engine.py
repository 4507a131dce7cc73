"""The training engine shared by train, QAT and prune: runtime set-up, optimizer, fit, evaluate.

Small pieces instead of one god object: :func:`setup_runtime` (device, seed, distributed),
:func:`build_optimizer`, :func:`fit` (epochs, checkpoints, resume, metrics log) and
:func:`evaluate`. Stages compose them and pass their own hooks (QAT syncs its scales before a save).
"""
from __future__ import annotations

import faulthandler
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

import numpy as np

from .. import artifacts, data, logs, tracing
from . import optim
from .amp import Amp
from ..config import Config, Device, LrConfig
from .ema import ModelEma
from ..errors import ConfigError
from .losses import build_loss
from .metrics import build_metrics
from .step import TrainStep
from .vdl import Scalars

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- runtime
@dataclass(frozen=True)
class Runtime:
    device: str
    seed: int
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world_size() -> int:
    """World size when started by ``paddle.distributed.launch`` (it sets PADDLE_TRAINERS_NUM)."""
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))


def setup_runtime(cfg: Config) -> Runtime:
    """Pick the device, seed every RNG, and join the process group when launched distributed."""
    import paddle

    device = cfg.Global.device
    if device == Device.GPU:
        from ..gpu import check_gpu_supported  # fails with one line instead of a CUDA error later

        check_gpu_supported()
        # paddle.distributed.launch --gpus 2,3 gives each rank its card in FLAGS_selected_gpus
        place = f"gpu:{int(os.environ.get('FLAGS_selected_gpus', '0').split(',')[0])}"
    else:
        place = "cpu"
    paddle.set_device(place)
    seed_everything(cfg.Global.seed)
    world = launched_world_size()
    rank = 0
    if world > 1:
        import paddle.distributed as dist

        dist.init_parallel_env()
        rank, world = dist.get_rank(), dist.get_world_size()
    return Runtime(device=place, seed=cfg.Global.seed, rank=rank, world_size=world)


def seed_everything(seed: int) -> None:
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


# ------------------------------------------------------------------------------- optimizer
def build_lr(lr: LrConfig, epochs: int, steps_per_epoch: int):
    """The paddle LR scheduler of ``lr`` (see :func:`ppslim.train.optim.build_lr`, which also says when it steps)."""
    return optim.build_lr(lr, epochs, steps_per_epoch).scheduler


def build_optimizer(cfg: Config, model, epochs: int, steps_per_epoch: int, lr: Optional[LrConfig] = None):
    """``(optimizer, schedule)`` from ``Optimizer`` over ``model``'s parameters (:mod:`ppslim.train.optim`)."""
    schedule = optim.build_lr(lr or cfg.Optimizer.lr, epochs, steps_per_epoch)
    return optim.build_optimizer(cfg.Optimizer, model, schedule), schedule


# ------------------------------------------------------------------------------- evaluate
progress = logs.progress  # tqdm on the console, off when it is not a terminal


def evaluate(model, loader: data.Loader, cfg: Config) -> dict:
    """Top-k accuracy (and loss when ``Loss.Eval`` is set) of a dygraph model over a loader."""
    import paddle

    metrics = build_metrics(cfg.Metric.Eval, "Metric.Eval")
    for m in metrics:
        m.reset()
    loss_fn = build_loss(cfg.Loss.Eval, "Loss.Eval") if cfg.Loss.Eval else None
    was_training = model.training
    model.eval()
    total_loss, batches = 0.0, 0
    with paddle.no_grad():
        for images, labels in progress(loader.loader, "eval"):
            outputs = model(images)
            # A DistillationModel returns {member: logits}: loss and metrics score the deployed member
            # (PaddleClas: "Student"); DistillationTopkAcc picks its own member from all outputs.
            # GoogLeNet returns [main, aux1, aux2]: its loss takes all three, plain metrics the main head.
            logits = outputs[model.inference_key()] if isinstance(outputs, dict) else outputs
            if loss_fn is not None:
                total_loss += float(loss_fn(logits, labels))
                batches += 1
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            if isinstance(logits, dict):  # return_patterns: {"logits": ..., "blocks3": ...}
                logits = logits["logits"]
            out, lab = logits.numpy(), labels.numpy()
            every = _numpy(outputs)
            for m in metrics:
                m.update(every if getattr(m, "reads_all_outputs", False) else out, lab)
    if was_training:
        model.train()
    result = {}
    for m in metrics:
        result.update(m.result())
    if loss_fn is not None and batches:
        result["loss"] = total_loss / batches
    return result


def _numpy(outputs):
    if isinstance(outputs, dict):
        return {k: _numpy(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [_numpy(v) for v in outputs]
    return outputs.numpy()


# ------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    prefix: str
    epoch: int
    best_top1: float
    metrics: dict = field(default_factory=dict)


def _rekey_optimizer_state(state: dict, model, to_structured: bool) -> dict:
    """Optimizer tensors are keyed by Paddle's process-wide parameter names (``conv2d_3.w_0_velocity_0``),
    which depend on how many networks the process built before. Store them by structured name
    (``features.0.weight::velocity_0``) and map back on load, so a checkpoint resumes in any process."""
    names = {p.name: n for n, p in model.named_parameters()}
    if not to_structured:
        names = {n: p for p, n in names.items()}
    out = {}
    for key, value in state.items():
        if to_structured:
            match = max((p for p in names if key.startswith(p + "_")), key=len, default=None)
            out[f"{names[match]}::{key[len(match) + 1:]}" if match else key] = value
        else:
            structured, sep, suffix = key.partition("::")
            out[f"{names[structured]}_{suffix}" if sep and structured in names else key] = value
    return out


def save_checkpoint(model, optimizer, prefix: str, state: dict, ema: Optional[ModelEma] = None) -> None:
    """Write ``prefix.pdparams/.pdopt/.pdstates``; the ``.pdstates`` file goes last and marks it whole.

    With ``ema`` the layout is PaddleClas's: ``.pdparams`` holds the EMA weights (what export and later
    stages load), ``.pdema`` the raw weights training resumes from."""
    if ema is not None:
        artifacts.paddle_save(model.state_dict(), prefix + ".pdema")
    artifacts.paddle_save((ema.module if ema is not None else model).state_dict(), prefix + ".pdparams")
    if optimizer is not None:
        artifacts.paddle_save(_rekey_optimizer_state(optimizer.state_dict(), model, True), prefix + ".pdopt")
    artifacts.write_json(prefix + ".pdstates", state)


def load_checkpoint(model, optimizer, path: str, key: str = "Global.checkpoints") -> Checkpoint:
    """Resume: model weights, optimizer (with LR schedule) state and the epoch counter."""
    import paddle

    from ..models import load_weights

    prefix = artifacts.strip_suffix(path)
    if not os.path.isfile(prefix + ".pdstates"):
        raise ConfigError(key, f"no complete checkpoint at {prefix!r} (missing {os.path.basename(prefix)}.pdstates)")
    load_weights(model, prefix, key)
    if optimizer is not None:
        if not os.path.isfile(prefix + ".pdopt"):
            raise ConfigError(key, f"{prefix}.pdopt missing: cannot resume the optimizer state")
        optimizer.set_state_dict(_rekey_optimizer_state(paddle.load(prefix + ".pdopt"), model, False))
    state = artifacts.read_json(prefix + ".pdstates")
    return Checkpoint(prefix, int(state["epoch"]), float(state.get("best_top1", 0.0)), state.get("metrics", {}))


def load_ema_checkpoint(model, ema: ModelEma, prefix: str, key: str = "Global.checkpoints") -> None:
    """After :func:`load_checkpoint` of an EMA run: ``.pdparams`` is the average, ``.pdema`` the raw model."""
    import paddle

    raw = prefix + ".pdema"
    if not os.path.isfile(raw):
        raise ConfigError(key, f"{raw} missing: EMA is configured but {prefix!r} was saved without EMA")
    ema.module.set_state_dict(paddle.load(prefix + ".pdparams"))
    model.set_state_dict(paddle.load(raw))


def resolve_resume(checkpoints: Optional[str], run_dir: str) -> Optional[str]:
    """``Global.checkpoints: auto`` resumes from ``run_dir/latest`` when a complete one exists
    (a restarted pod picks up where it stopped) and starts fresh otherwise."""
    if checkpoints != "auto":
        return checkpoints
    latest = os.path.join(run_dir, "latest")
    return latest if os.path.isfile(latest + ".pdstates") else None


# ------------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class FitResult:
    run_dir: str
    epochs_run: int
    last_epoch: int
    best_top1: float
    best_epoch: int
    final_metrics: dict
    best_model: str
    seconds: float


Hook = Callable[[object], None]


class ExtraLoss(Protocol):
    """A term added to ``Loss.Train`` that needs the batch's images (QAT's distillation from a teacher)."""
    name: str

    def __call__(self, images, outputs): ...


class StepWatchdog:
    """End a rank stuck in a collective (a dead peer) with a traceback instead of hanging forever.

    ``faulthandler.dump_traceback_later`` fires from C, so it works while Python is blocked in gloo;
    a Python thread could not. Re-armed every step; off when ``PPSLIM_STEP_TIMEOUT`` is 0.
    """

    def __init__(self, enabled: bool):
        self.timeout = float(os.environ.get("PPSLIM_STEP_TIMEOUT", "300")) if enabled else 0.0

    def arm(self) -> None:
        if self.timeout > 0:
            faulthandler.dump_traceback_later(self.timeout, exit=True)

    def disarm(self) -> None:
        if self.timeout > 0:
            faulthandler.cancel_dump_traceback_later()


def fit(model, cfg: Config, runtime: Runtime, run_dir: str, *, epochs: Optional[int] = None,
        lr: Optional[LrConfig] = None, resume: Optional[str] = None,
        before_save: Optional[Hook] = None, extra_state: Optional[dict] = None,
        extra_loss: Optional[ExtraLoss] = None) -> FitResult:
    """Train ``model`` for ``epochs``, evaluating and checkpointing as ``Global`` says.

    Checkpoints go to ``run_dir/epoch_N``, ``latest`` and ``best_model`` (each atomic). ``resume``
    (a checkpoint prefix) continues at the epoch after the saved one, optimizer state included,
    on every rank. ``before_save(model)`` runs on all ranks before each save (QAT averages its
    activation scales there). ``extra_state`` is stored in every ``.pdstates`` (e.g. a prune plan).
    ``extra_loss(images, outputs)`` is added to the ``Loss.Train`` value of every batch; its epoch mean
    is logged and recorded as ``train_loss_<extra_loss.name>`` (``train_loss`` is the sum).
    """
    import paddle

    g = cfg.Global
    epochs = epochs or g.epochs
    amp = Amp(cfg.AMP, runtime.device)
    train_loader = data.build_loader(cfg, "Train", distributed=runtime.distributed)
    eval_loader = data.build_loader(cfg, "Eval", shuffle=False) if g.eval_during_train else None
    loss_fn = build_loss(cfg.Loss.Train, "Loss.Train")
    batches = g.iter_per_epoch or len(train_loader)
    if batches > len(train_loader):
        raise ConfigError("Global.iter_per_epoch", f"{batches} exceeds the {len(train_loader)} batches of the train set")
    if g.update_freq > batches:
        raise ConfigError("Global.update_freq", f"{g.update_freq} exceeds the {batches} batches of an epoch")
    # As PaddleClas: an epoch is a whole number of accumulated steps; the schedule counts those steps.
    steps_per_epoch = batches // g.update_freq
    # A loss with layers of its own (MGD's generator, PEFD's projectors) trains with the network, as in PaddleClas.
    loss_layers = loss_fn.trainable_layers()
    trained = paddle.nn.LayerList([model, *loss_layers]) if loss_layers else model
    optimizer, schedule = build_optimizer(cfg, trained, epochs, steps_per_epoch, lr)
    model, optimizer = amp.decorate(model, optimizer)
    ema = ModelEma(model, cfg.EMA.decay) if cfg.EMA is not None else None
    if g.to_static:  # as PaddleClas's apply_to_static: the model's forward becomes a static program
        from paddle.static import InputSpec

        tracing.forget_stale_traces()  # the forward is traced at its first call, below
        paddle.jit.to_static(model, input_spec=[InputSpec([None, *g.image_shape], "float32")])
    net = paddle.DataParallel(model) if runtime.distributed else model
    start_epoch, best_top1, best_epoch = 1, -1.0, 0
    resume = resolve_resume(resume, run_dir)
    if resume:
        ckpt = load_checkpoint(model, optimizer, resume)
        if ema is not None:
            load_ema_checkpoint(model, ema, ckpt.prefix)
        start_epoch, best_top1, best_epoch = ckpt.epoch + 1, ckpt.best_top1, ckpt.metrics.get("best_epoch", 0)
        log.info("resumed from %s at epoch %d", ckpt.prefix, start_epoch)
    metrics_path = os.path.join(run_dir, artifacts.METRICS_FILE)
    if not resume and runtime.is_main and os.path.exists(metrics_path):
        os.remove(metrics_path)  # a fresh run starts a fresh log; a resumed one appends
    rng = np.random.RandomState(g.seed)
    watchdog = StepWatchdog(runtime.distributed)
    step_fn = TrainStep(model, optimizer, schedule, amp, g.update_freq, ema)
    scalars = Scalars(run_dir, g.use_visualdl and runtime.is_main)
    global_step = (start_epoch - 1) * steps_per_epoch * g.update_freq
    final_metrics: dict = {}
    t_start = time.perf_counter()
    for epoch in range(start_epoch, epochs + 1):
        t0 = time.perf_counter()
        train_loader.set_epoch(epoch)
        net.train()
        total, extra_total, seen = 0.0, 0.0, 0
        for step, (images, labels) in enumerate(progress(train_loader.loader, f"epoch {epoch}/{epochs}")):
            if step >= steps_per_epoch * g.update_freq:
                break  # iter_per_epoch, or the tail that would not fill an accumulated step (as PaddleClas)
            watchdog.arm()
            target = labels
            for op in train_loader.batch_ops:
                mixed, la, lb, lam = op(images.numpy(), labels.numpy(), rng)
                images, target = paddle.to_tensor(mixed), (paddle.to_tensor(la), paddle.to_tensor(lb), lam)
            with amp.train_cast():
                outputs = net(images)
                loss = loss_fn(outputs, target)
                if extra_loss is not None:
                    extra = extra_loss(images, outputs)
                    extra_total += float(extra) * len(labels)
                    loss = loss + extra
            step_fn(loss)
            global_step += 1
            value = float(loss)
            if not np.isfinite(value):
                raise FloatingPointError(f"loss became {value} at epoch {epoch} step {step}; lower the LR")
            total += value * len(labels)
            seen += len(labels)
            if step % g.print_batch_step == 0:
                log.debug("epoch %d step %d loss %.4f", epoch, step, value)
                scalars.add("train_loss", value, global_step)
                scalars.add(schedule.tag, float(optimizer.get_lr()), global_step)
        step_fn.end_epoch()
        watchdog.disarm()
        record = {"epoch": epoch, "train_loss": total / max(seen, 1), "lr": float(optimizer.get_lr()),
                  "rank": runtime.rank}
        if extra_loss is not None:
            record[f"train_loss_{extra_loss.name}"] = extra_total / max(seen, 1)
        if eval_loader is not None and (epoch == epochs or (epoch % g.eval_interval == 0
                                                            and epoch >= g.start_eval_epoch)):
            with amp.eval_cast():
                record.update(evaluate(model, eval_loader, cfg))
                if ema is not None:
                    record.update({f"{k}_ema": v for k, v in evaluate(ema.module, eval_loader, cfg).items()})
            scalars.add("eval_acc", record.get("top1", 0.0), epoch)
            if ema is not None:
                scalars.add("eval_acc_ema", record.get("top1_ema", 0.0), epoch)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        final_metrics = record
        if before_save is not None:
            before_save(model)
        # With EMA the saved .pdparams are the EMA weights, so "best" is judged by their top-1.
        top1 = record.get("top1_ema" if ema is not None else "top1", -1.0)
        is_best = top1 > best_top1
        if is_best:
            best_top1, best_epoch = top1, epoch
        log.info("epoch %d/%d loss %.4f %s%s(%.1fs)", epoch, epochs, record["train_loss"],
                 f"({extra_loss.name} {record[f'train_loss_{extra_loss.name}']:.4f}) " if extra_loss else "",
                 f"top1 {record['top1']:.4f} " if "top1" in record else "", record["seconds"])
        if runtime.is_main:
            state = {"epoch": epoch, "best_top1": best_top1,
                     "metrics": {**record, "best_epoch": best_epoch}, **(extra_state or {})}
            if epoch % g.save_interval == 0 or epoch == epochs:
                save_checkpoint(model, optimizer, os.path.join(run_dir, f"epoch_{epoch}"), state, ema)
            if is_best or not os.path.isfile(os.path.join(run_dir, "best_model.pdstates")):
                save_checkpoint(model, None, os.path.join(run_dir, "best_model"), state, ema)
            save_checkpoint(model, optimizer, os.path.join(run_dir, "latest"), state, ema)
            artifacts.append_jsonl(metrics_path, record)
    scalars.close()
    if g.to_static:
        model.__dict__.pop("forward", None)  # to_static replaced forward on the instance; give it back
    if runtime.distributed:
        paddle.distributed.barrier()  # callers load best_model next on every rank: wait for rank 0's saves
    return FitResult(run_dir=run_dir, epochs_run=max(0, epochs - start_epoch + 1), last_epoch=epochs,
                     best_top1=best_top1, best_epoch=best_epoch, final_metrics=final_metrics,
                     best_model=os.path.join(run_dir, "best_model"), seconds=round(time.perf_counter() - t_start, 2))
