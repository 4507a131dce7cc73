"""PaddleClas's ``MultiScaleSampler``: batches whose image size (and batch size) vary per batch."""
from __future__ import annotations

import math
import random


class MultiScaleSampler:
    """Yield batches of ``(w, h, index)``; :class:`~ppslim.data.dataset.MultiScaleDataset` crops
    each to its batch's ``w x h``.

    Training (``is_training``) sizes are ``scales`` rounded down to multiples of ``divided_factor``,
    each with the batch size that keeps ``w * h * batch`` equal to the first scale's with
    ``first_bs`` (at least 1); evaluation uses only the first scale and ``first_bs``. The sequence
    of sizes is drawn once from ``seed``; with ``shuffle`` the images and the order of sizes are
    reshuffled every epoch (from ``seed + epoch``). Ranks take every ``world_size``-th image, and the
    last batch is filled up from the start, as in PaddleClas.
    """

    def __init__(self, n_samples: int, scales, first_bs: int, divided_factor: int = 32, is_training: bool = True,
                 shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1):
        pairs = [(s, s) if isinstance(s, int) else (s[0], s[1]) for s in scales]
        base_w, base_h = pairs[0]
        if is_training:
            base = base_w * base_h * first_bs
            self.sizes = []
            for w, h in pairs:
                w, h = (w // divided_factor) * divided_factor, (h // divided_factor) * divided_factor
                self.sizes.append((w, h, int(max(1, base / (w * h)))))
        else:
            self.sizes = [(base_w, base_h, first_bs)]
        self.n_samples, self.shuffle, self.seed = n_samples, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = int(math.ceil(n_samples / world_size))
        self.epoch = 0
        pick = random.Random(seed)
        self.batches, current = [], 0
        while current < self.per_rank:
            w, h, bs = pick.choice(self.sizes)
            self.batches.append((w, h, bs))
            current += bs

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        indices = list(range(self.n_samples))
        batches = list(self.batches)
        if self.shuffle:
            rng = random.Random(self.seed + self.epoch)
            rng.shuffle(indices)
            rng.shuffle(batches)
        mine = indices[self.rank::self.world_size]
        start = 0
        for w, h, bs in batches:
            ids = mine[start:min(start + bs, self.per_rank)]
            if len(ids) < bs:
                ids += mine[:bs - len(ids)]
            start += bs
            yield [(w, h, i) for i in ids]


class RASampler:
    """Repeated augmentation (DeiT's sampler, as PaddleClas has it): every image index appears
    ``num_repeats`` times in a row, the list (padded to a multiple of ``world_size``) is dealt to the
    ranks, and each rank keeps ``floor(n // 256 * 256 / world_size)`` of its share, so an epoch
    has about as many samples as the data set but every kept image comes ``num_repeats`` times with
    its own augmentation. With ``shuffle``, the images are shuffled each epoch from ``seed + epoch``.
    """

    def __init__(self, n_samples: int, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 num_repeats: int = 3, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.n_samples, self.batch_size, self.shuffle, self.drop_last = n_samples, batch_size, shuffle, drop_last
        self.num_repeats, self.seed, self.rank, self.world_size = num_repeats, seed, rank, world_size
        self.per_rank = int(math.ceil(n_samples * num_repeats / world_size))
        self.total = self.per_rank * world_size
        self.selected = int(math.floor(n_samples // 256 * 256 / world_size))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.selected + (0 if self.drop_last else self.batch_size - 1)) // self.batch_size

    def __iter__(self):
        import numpy as np

        indices = list(range(self.n_samples))
        if self.shuffle:
            np.random.RandomState((self.seed + self.epoch) % (2 ** 32)).shuffle(indices)
        indices = [i for i in indices for _ in range(self.num_repeats)]
        indices += indices[:self.total - len(indices)]
        mine = indices[self.rank:self.total:self.world_size][:self.selected]
        for start in range(0, len(mine), self.batch_size):
            batch = mine[start:start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch
