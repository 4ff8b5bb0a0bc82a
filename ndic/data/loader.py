"""DataLoaders with reproducible randomness on one process, many workers or many GPUs."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a worker from the seed torch gave it (torch's own RNG is already seeded).

    torch derives each worker's seed from the loader's generator, so the random crops and flips of a
    run repeat exactly for the same ``seed`` and number of workers.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    workers: int = 0,
    seed: int = 0,
    distributed: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over ``dataset``; order and augmentation follow ``seed``.

    ``distributed``: a :class:`DistributedSampler` shards the data across the processes of the
    initialised process group (each sees ``len / world_size`` items); call
    ``loader.sampler.set_epoch(epoch)`` every epoch for a new shuffle. Memory is pinned when CUDA is
    present. With ``workers=0`` the augmentation draws from the main process's torch RNG (seed it
    with ``torch.manual_seed``); with workers each one is seeded from ``seed``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    generator = torch.Generator()
    generator.manual_seed(seed)
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last) if distributed else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        worker_init_fn=seed_worker if workers > 0 else None,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        persistent_workers=workers > 0,
    )
