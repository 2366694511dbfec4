"""default_collate / default_convert: turning a list of samples into a batch."""

from __future__ import annotations

import collections.abc
import numbers
from typing import Any

import numpy as np


def default_convert(data: Any) -> Any:
    """Matches `torch.utils.data.default_convert`: NumPy arrays to tensors, recursively."""
    import ember

    if isinstance(data, ember.Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSU":
        return ember.as_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "OSU":
        return ember.as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()})  # type: ignore[call-arg]
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch: Any) -> Any:
    """Matches `torch.utils.data.default_collate`: tensors and arrays are stacked, numbers become
    tensors (float -> float64, int -> int64), strings stay a list, dicts/sequences/namedtuples
    are collated field by field."""
    import ember

    elem = batch[0]
    if isinstance(elem, ember.Tensor):
        return ember.stack(batch, 0)
    if isinstance(elem, np.ndarray) and elem.dtype.kind not in "OSU":
        return ember.stack([ember.as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic) and elem.dtype.kind not in "OSU":
        return ember.as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return ember.tensor(batch, dtype=ember.bool)
    if isinstance(elem, float):
        return ember.tensor(batch, dtype=ember.float64)
    if isinstance(elem, int):
        return ember.tensor(batch, dtype=ember.int64)
    if isinstance(elem, numbers.Number):
        return ember.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {k: default_collate([d[k] for d in batch]) for k in elem}
        try:
            return type(elem)(collated)  # type: ignore[call-arg]
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(s) for s in zip(*batch)]  # tuples, as torch's
        if isinstance(elem, tuple):
            return transposed  # torch returns a list here, for backwards compatibility
        try:
            return type(elem)(transposed)  # type: ignore[call-arg]
        except TypeError:
            return transposed
    found = elem.dtype if isinstance(elem, (np.ndarray, np.generic)) else type(elem)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                    f"or lists; found {found}")
