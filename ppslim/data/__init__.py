"""Data loading with PaddleClas's semantics: ImageNetDataset/MultiScaleDataset (ops on HWC, CHW after),
PaddleClas transform and batch ops, (Distributed)BatchSampler and MultiScaleSampler."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..config import DataSectionConfig
from ..errors import ConfigError
from .dataset import (DatasetTransform, ImageNetDataset, make_dataset, make_multi_scale_dataset,  # noqa: F401
                      read_label_list)
from .ops import BATCH_TRANSFORMS, build_transforms


class WorkerSeeder:
    """``worker_init_fn`` seeding Python's and numpy's RNGs in each loader worker from
    ``Global.seed``, the rank, the worker id and the epoch (workers restart every epoch, so the
    epoch keeps augmentations from repeating). With ``num_workers: 0`` the ops run in the main
    process, seeded once by ``engine.seed_everything``."""

    def __init__(self, seed: int, rank: int, num_workers: int):
        self.seed, self.rank, self.num_workers, self.epoch = seed, rank, num_workers, 0

    def __call__(self, worker_id: int) -> None:
        worker_seed = (self.seed + 1_000_003 * self.epoch + self.num_workers * self.rank + worker_id) % (2 ** 32)
        random.seed(worker_seed)
        np.random.seed(worker_seed)


@dataclass
class Loader:
    """A built loader plus what the engine needs to know about it."""
    loader: object          # paddle.io.DataLoader
    dataset: ImageNetDataset
    sampler: object         # paddle.io.(Distributed)BatchSampler or MultiScaleSampler
    batch_ops: list
    seeder: object = None

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if self.seeder is not None:
            self.seeder.epoch = epoch

    def __len__(self) -> int:
        return len(self.loader)


def section(cfg, mode: str) -> DataSectionConfig:
    """``DataLoader.Train`` or ``DataLoader.Eval``, or an error naming the missing key."""
    value = getattr(cfg.DataLoader, mode)
    if value is None:
        raise ConfigError(f"DataLoader.{mode}", "required by this stage but missing from the config")
    return value


def check_dataset(cfg, mode: str) -> list[tuple[str, int]]:
    """Cheap up-front check (folders, list file, images exist); returns the samples."""
    ds = section(cfg, mode).dataset
    return read_label_list(ds.image_root, ds.cls_label_path, ds.delimiter, f"DataLoader.{mode}.dataset",
                           relabel=ds.relabel)


def _ops_key(mode: str) -> str:
    return f"DataLoader.{mode}.dataset.transform_ops"


def build_loader(cfg, mode: str, shuffle: bool | None = None, distributed: bool = False) -> Loader:
    """Build ``DataLoader.<mode>`` as a ``paddle.io.DataLoader``.

    ``DistributedBatchSampler`` shards across ranks when launched by ``paddle.distributed.launch``
    and is a plain shuffled batch sampler otherwise; ``MultiScaleSampler`` feeds ``MultiScaleDataset``.
    """
    import paddle

    sec = section(cfg, mode)
    key = f"DataLoader.{mode}"
    samples = check_dataset(cfg, mode)
    if not sec.dataset.transform_ops:
        raise ConfigError(f"{key}.dataset.transform_ops", "expected a list of ops, e.g. [DecodeImage, ...]")
    do_shuffle = sec.sampler.shuffle if shuffle is None else shuffle
    rank, world = 0, 1
    if distributed or sec.sampler.name in ("DistributedBatchSampler", "MultiScaleSampler", "RASampler"):
        import paddle.distributed as dist

        rank, world = dist.get_rank(), max(1, dist.get_world_size())
    if sec.sampler.name == "MultiScaleSampler":
        from .sampler import MultiScaleSampler

        dataset = make_multi_scale_dataset(samples, sec.dataset.transform_ops, _ops_key(mode),
                                           _first_size(sec.sampler.scales))
        dataset.transform_for(*dataset.default_size)  # build errors surface now, not in a worker
        sampler = MultiScaleSampler(len(dataset), sec.sampler.scales, sec.sampler.first_bs,
                                    sec.sampler.divided_factor, sec.sampler.is_training, shuffle=do_shuffle,
                                    seed=cfg.Global.seed, rank=rank, world_size=world)
    else:
        dataset = make_dataset(samples, build_transforms(sec.dataset.transform_ops, _ops_key(mode)))
        if sec.sampler.name == "RASampler":
            from .sampler import RASampler

            sampler = RASampler(len(dataset), sec.sampler.batch_size, shuffle=do_shuffle,
                                drop_last=sec.sampler.drop_last, num_repeats=sec.sampler.num_repeats,
                                seed=cfg.Global.seed, rank=rank, world_size=world)
            if len(sampler) == 0:
                raise ConfigError(f"{key}.sampler.name", f"RASampler keeps n // 256 * 256 images per epoch; "
                                  f"{len(dataset)} images give none")
        elif sec.sampler.name == "DistributedBatchSampler" or distributed:
            sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=sec.sampler.batch_size,
                                                        shuffle=do_shuffle, drop_last=sec.sampler.drop_last)
        else:
            sampler = paddle.io.BatchSampler(dataset, batch_size=sec.sampler.batch_size, shuffle=do_shuffle,
                                             drop_last=sec.sampler.drop_last)
    seeder = WorkerSeeder(cfg.Global.seed, rank, sec.loader.num_workers) if sec.loader.num_workers else None
    loader = paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=sec.loader.num_workers,
                                  use_shared_memory=sec.loader.use_shared_memory, return_list=True,
                                  worker_init_fn=seeder)
    batch_ops = BATCH_TRANSFORMS.build_list(sec.dataset.batch_transform_ops, f"{key}.dataset.batch_transform_ops")
    return Loader(loader, dataset, sampler, batch_ops, seeder)


def _first_size(scales) -> tuple[int, int]:
    s = scales[0]
    return (s, s) if isinstance(s, int) else (s[0], s[1])


def eval_transform(cfg, mode: str = "Eval"):
    """One split's ``transform_ops`` followed by the dataset's HWC -> CHW step: bytes -> CHW image.

    A ``MultiScaleDataset`` split uses its first scale (``MultiScaleSampler.scales[0]``)."""
    sec = section(cfg, mode)
    if sec.dataset.name == "MultiScaleDataset":
        size = _first_size(sec.sampler.scales)
        ds = make_multi_scale_dataset([], sec.dataset.transform_ops, _ops_key(mode), size)
        return DatasetTransform(ds.transform_for(*size))
    return DatasetTransform(build_transforms(sec.dataset.transform_ops, _ops_key(mode)))


def build_infer_transform(cfg):
    """The ``Infer.transforms`` pipeline (ending in ``ToCHWImage``, as PaddleClas's inference configs
    do), falling back to the Eval dataset's ops plus its HWC -> CHW step."""
    if cfg.Infer is not None and cfg.Infer.transforms:
        return build_transforms(cfg.Infer.transforms, "Infer.transforms")
    return eval_transform(cfg, "Eval")


def real_images(cfg, count: int | None, mode: str = "Eval"):
    """The first ``count`` images (all for ``None``) of a split, preprocessed as its dataset does
    (ops, then CHW), as one NCHW float32 array plus labels.

    Used to verify converted artifacts and to calibrate on real images (never random noise).
    """
    samples = check_dataset(cfg, mode)[:count]
    ds = ImageNetDataset(samples, eval_transform(cfg, mode).ops)
    images = np.stack([ds[i][0] for i in range(len(ds))])
    return images, ds.labels
