"""Data loading: ImageNetDataset layout, PaddleClas transform ops, (Distributed)BatchSampler."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import DataSectionConfig
from ..errors import ConfigError
from .dataset import ImageNetDataset, make_dataset, read_label_list
from .transforms import BATCH_TRANSFORMS, build_transforms


@dataclass
class Loader:
    """A built loader plus what the engine needs to know about it."""
    loader: object          # paddle.io.DataLoader
    dataset: ImageNetDataset
    sampler: object         # paddle.io.(Distributed)BatchSampler
    batch_ops: list

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

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
    return read_label_list(ds.image_root, ds.cls_label_path, ds.delimiter, f"DataLoader.{mode}.dataset")


def build_loader(cfg, mode: str, shuffle: bool | None = None, distributed: bool = False) -> Loader:
    """Build ``DataLoader.<mode>`` as a ``paddle.io.DataLoader`` over ImageNetDataset.

    ``DistributedBatchSampler`` shards across ranks when launched by ``paddle.distributed.launch``
    and is a plain shuffled batch sampler otherwise.
    """
    import paddle

    sec = section(cfg, mode)
    key = f"DataLoader.{mode}"
    samples = check_dataset(cfg, mode)
    if not sec.dataset.transform_ops:
        raise ConfigError(f"{key}.dataset.transform_ops", "expected a list of ops, e.g. [DecodeImage, ...]")
    transform = build_transforms(sec.dataset.transform_ops, f"{key}.dataset.transform_ops")
    dataset = make_dataset(samples, transform)
    do_shuffle = sec.sampler.shuffle if shuffle is None else shuffle
    if sec.sampler.name == "DistributedBatchSampler" or distributed:
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=sec.sampler.batch_size,
                                                    shuffle=do_shuffle, drop_last=sec.sampler.drop_last)
    else:
        sampler = paddle.io.BatchSampler(dataset, batch_size=sec.sampler.batch_size, shuffle=do_shuffle,
                                         drop_last=sec.sampler.drop_last)
    loader = paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=sec.loader.num_workers,
                                  use_shared_memory=sec.loader.use_shared_memory, return_list=True)
    batch_ops = BATCH_TRANSFORMS.build_list(sec.dataset.batch_transform_ops, f"{key}.dataset.batch_transform_ops")
    return Loader(loader, dataset, sampler, batch_ops)


def build_infer_transform(cfg):
    """The ``Infer.transforms`` pipeline, falling back to the Eval dataset's ops."""
    if cfg.Infer is not None and cfg.Infer.transforms:
        return build_transforms(cfg.Infer.transforms, "Infer.transforms")
    return build_transforms(section(cfg, "Eval").dataset.transform_ops, "DataLoader.Eval.dataset.transform_ops")


def real_images(cfg, count: int | None, mode: str = "Eval"):
    """The first ``count`` images (all for ``None``) of a split, preprocessed, as one NCHW float32 array plus labels.

    Used to verify converted artifacts and to calibrate on real images (never random noise).
    """
    import numpy as np

    samples = check_dataset(cfg, mode)[:count]
    transform = build_transforms(section(cfg, mode).dataset.transform_ops,
                                 f"DataLoader.{mode}.dataset.transform_ops")
    ds = ImageNetDataset(samples, transform)
    images = np.stack([ds[i][0] for i in range(len(ds))])
    return images, ds.labels
