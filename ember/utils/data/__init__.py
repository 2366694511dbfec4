"""Datasets, samplers and the DataLoader, as `torch.utils.data`."""

from __future__ import annotations

from ember.utils.data.collate import default_collate, default_convert  # noqa: F401
from ember.utils.data.dataloader import DataLoader, get_worker_info  # noqa: F401
from ember.utils.data.dataset import (  # noqa: F401
    ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
    random_split,
)
from ember.utils.data.sampler import (  # noqa: F401
    BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
    SubsetRandomSampler, WeightedRandomSampler,
)
