"""DataLoader: batches from a dataset, in this process or in worker processes."""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.utils.data.collate import default_collate, default_convert
from ember.utils.data.dataset import Dataset, IterableDataset
from ember.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_POLL_S = 1.0  # how often the main process checks that its workers are alive


@dataclass
class WorkerInfo:
    """What `get_worker_info()` returns inside a worker: id, num_workers, seed, dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Matches `torch.utils.data.get_worker_info`: None in the main process."""
    return _worker_info


class _KeyErrorMessage(str):
    """torch's KeyErrorMessage: a str whose repr is itself."""

    def __repr__(self) -> str:
        return self


class _ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, where: str) -> None:
        exc_type, exc, _ = sys.exc_info()
        self.exc_type = exc_type or RuntimeError
        self.msg = f"Caught {self.exc_type.__name__} {where}.\nOriginal " + "".join(
            traceback.format_exception(exc_type, exc, exc.__traceback__ if exc else None))

    def reraise(self) -> None:
        msg: str = self.msg
        if self.exc_type is KeyError:  # str(KeyError(m)) is repr(m): keep the traceback readable
            msg = _KeyErrorMessage(msg)
        try:
            err = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise err


class _IterableEnd:
    """A worker's iterable dataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _Fetcher:
    """Gets one batch (or sample) for a list of indices, or the next from an iterable."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[..., Any],
                 drop_last: bool, batch_size: int | None) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.iterator: Iterator[Any] | None = None
        self.ended = False

    def reset(self) -> None:
        self.iterator = None
        self.ended = False

    def fetch(self, indices: Any) -> Any:
        if isinstance(self.dataset, IterableDataset):
            if self.iterator is None:
                self.iterator = iter(self.dataset)
            if not self.auto_collation:
                return self.collate_fn(next(self.iterator))
            batch = []
            for item in self.iterator:
                batch.append(item)
                if len(batch) == self.batch_size:
                    break
            if not batch or (self.drop_last and len(batch) < (self.batch_size or 1)):
                raise StopIteration
            return self.collate_fn(batch)
        if self.auto_collation:
            items = getattr(self.dataset, "__getitems__", None)
            data = items(indices) if items else [self.dataset[i] for i in indices]
            return self.collate_fn(data)
        return self.collate_fn(self.dataset[indices])


class DataLoader:
    """Matches `torch.utils.data.DataLoader`: torch's arguments and argument checks, real worker
    processes for `num_workers > 0` (results in order, a worker's exception re-raised here with
    its traceback), `persistent_workers`, `prefetch_factor`, `worker_init_fn`. `pin_memory` is
    accepted and does nothing on the CPU."""

    def __init__(self, dataset: Dataset[Any], batch_size: int | None = 1,
                 shuffle: bool | None = None, sampler: Any = None, batch_sampler: Any = None,
                 num_workers: int = 0, collate_fn: Callable[..., Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process "
                                 f"loading (num_workers > 0), but got num_workers={num_workers}")
            if isinstance(multiprocessing_context, str):
                methods = mp.get_all_start_methods()
                if multiprocessing_context not in methods:
                    raise ValueError("multiprocessing_context option should specify a valid "
                                     f"start method in {methods!r}, but got "
                                     f"multiprocessing_context={multiprocessing_context!r}")
                multiprocessing_context = mp.get_context(multiprocessing_context)
            elif not isinstance(multiprocessing_context, mp.context.BaseContext):
                raise TypeError("multiprocessing_context option should be a valid context object "
                                "or a string specifying the start method, but got "
                                f"multiprocessing_context={multiprocessing_context}")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.generator = generator

        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if isinstance(dataset, IterableDataset):
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self._iterator: _MultiProcessIter | None = None
        self._IterableDataset_len_called: int | None = None
        self._initialized = True

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def _fetcher(self) -> _Fetcher:
        return _Fetcher(self.dataset, self._auto_collation, self.collate_fn, self.drop_last,
                        self.batch_size)

    def __setattr__(self, attr: str, val: Any) -> None:
        if attr in _FROZEN_ATTRS and getattr(self, "_initialized", False):
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None or self._iterator.closed:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator.new_epoch()
            return self._iterator
        return _MultiProcessIter(self)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]
            self._IterableDataset_len_called = n  # iterators warn if more come than this
            if self.batch_size is not None:
                return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __del__(self) -> None:
        # getattr: __init__ may have raised (bad arguments) before _iterator was set
        it = getattr(self, "_iterator", None)
        if it is not None:
            it.shutdown()


_FROZEN_ATTRS = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                 "persistent_workers")


def _base_seed(loader: DataLoader) -> int:
    """torch draws one int64 from the loader's generator (or the global RNG) per iterator, even
    without workers; drawing it keeps a shuffled order equal to torch's for the same seed."""
    import ember

    t = ember.empty((), dtype=ember.int64).random_(generator=loader.generator)
    return int(t.item())


def _count_yield(it: _SingleProcessIter | _MultiProcessIter) -> None:
    """torch's warning when an iterable dataset yields more than the len() it reported (often
    every worker iterating the whole dataset)."""
    it.num_yielded += 1
    limit = it.len_called
    if limit is not None and it.num_yielded > limit:
        msg = (f"Length of IterableDataset {it.loader.dataset} was reported to be {limit}(when "
               f"accessing len(dataloader)), but {it.num_yielded} samples have been fetched. ")
        if it.loader.num_workers > 0:
            msg += ("For multiprocessing data-loading, this could be caused by not properly "
                    "configuring the IterableDataset replica at each worker. Please see "
                    "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset "
                    "for examples.")
        warnings.warn(msg, stacklevel=3)


def _warn_pin_memory(loader: DataLoader) -> None:
    if loader.pin_memory:
        warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then "
                      "device pinned memory won't be used.", stacklevel=3)


class _SingleProcessIter:
    """Batches fetched in this process, one per `next`."""

    def __init__(self, loader: DataLoader) -> None:
        _warn_pin_memory(loader)
        self.loader = loader
        self.sampler_iter = iter(loader._index_sampler)  # before the seed draw, as torch
        self.base_seed = _base_seed(loader)
        self.fetcher = loader._fetcher()
        self.num_yielded = 0
        self.len_called = loader._IterableDataset_len_called

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __next__(self) -> Any:
        indices = next(self.sampler_iter)
        data = self.fetcher.fetch(indices)  # an exhausted iterable dataset raises StopIteration
        if isinstance(self.loader.dataset, IterableDataset):
            _count_yield(self)
        return data

    def __len__(self) -> int:
        return len(self.loader)


def _numpy_seed(base_seed: int, worker_id: int) -> list[int]:
    """torch's `_generate_state`: a worker's NumPy seed, four uint32 words mixed from the base
    seed and the worker id (so NumPy augmentations differ between workers, as in torch)."""
    mask = 0xFFFFFFFF
    mult_a, mix_l, mix_r = 0x931E8875, 0xCA01F9DD, 0x4973F715
    hash_a = 0x43B0D7E5

    def hash_(value: int) -> int:
        nonlocal hash_a
        value = (value ^ hash_a) & mask
        hash_a = (hash_a * mult_a) & mask
        value = (value * hash_a) & mask
        return (value ^ (value >> 16)) & mask

    def mix(x: int, y: int) -> int:
        r = (((mix_l * x) & mask) - ((mix_r * y) & mask)) & mask
        return (r ^ (r >> 16)) & mask

    pool = [hash_(v) for v in (worker_id, base_seed & mask, base_seed >> 32, 0)]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_a = 0x8B51F9DD
    mult_a = 0x58F38DED
    return [hash_(v) for v in pool]


class _InfiniteConstantSampler(Sampler[None]):
    """The 'sampler' of an iterable dataset: it yields None forever."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _worker_loop(worker_id: int, loader_state: tuple[Any, ...], index_queue: Any,
                 result_queue: Any, base_seed: int) -> None:
    """The body of one worker process: fetch the batches asked for, until told to stop."""
    global _worker_info
    import ember

    dataset, auto, collate_fn, drop_last, batch_size, num_workers, init_fn = loader_state
    seed = base_seed + worker_id
    random.seed(seed)
    ember.manual_seed(seed)
    np.random.seed(_numpy_seed(base_seed, worker_id))
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    fetcher = _Fetcher(dataset, auto, collate_fn, drop_last, batch_size)
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception:
            init_error = _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
    while True:
        try:
            task = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        if task == "reset":
            fetcher.reset()
            continue
        idx, indices = task
        if init_error is not None:
            result_queue.put((idx, init_error))
            continue
        if fetcher.ended:
            result_queue.put((idx, _IterableEnd(worker_id)))
            continue
        try:
            data = fetcher.fetch(indices)
        except StopIteration:
            fetcher.ended = True
            data = _IterableEnd(worker_id)
        except Exception:
            data = _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        result_queue.put((idx, data))


class _MultiProcessIter:
    """Hands index batches to workers round-robin and returns their results in order."""

    def __init__(self, loader: DataLoader) -> None:
        self.closed = True  # until the workers exist, there is nothing to shut down
        self.loader = loader
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        elif isinstance(ctx, str):
            ctx = mp.get_context(ctx)
        _warn_pin_memory(loader)
        self.base_seed = _base_seed(loader)
        self.n = loader.num_workers
        self.result_queue = ctx.Queue()
        self.index_queues = [ctx.Queue() for _ in range(self.n)]
        state = (loader.dataset, loader._auto_collation, loader.collate_fn, loader.drop_last,
                 loader.batch_size, self.n, loader.worker_init_fn)
        self.workers = []
        for wid in range(self.n):
            w = ctx.Process(target=_worker_loop, args=(wid, state, self.index_queues[wid],
                                                       self.result_queue, self.base_seed),
                            daemon=True)
            w.start()
            self.workers.append(w)
        self.closed = False
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.sampler_iter = iter(self.loader._index_sampler)
        self.num_yielded = 0
        self.len_called = self.loader._IterableDataset_len_called
        self.send_idx = 0
        self.rcvd_idx = 0
        self.task_worker: dict[int, int] = {}
        self.buffer: dict[int, Any] = {}
        self.active = [True] * self.n
        self.next_worker = 0
        self.exhausted = False
        for _ in range((self.loader.prefetch_factor or 2) * self.n):
            self._put_index()

    def new_epoch(self) -> None:
        """persistent_workers: the same processes serve the next epoch."""
        for q in self.index_queues:
            q.put("reset")
        self._start_epoch()

    def _put_index(self) -> None:
        if self.exhausted or not any(self.active):
            return
        try:
            indices = next(self.sampler_iter)
        except StopIteration:
            self.exhausted = True
            return
        for _ in range(self.n):  # the next worker whose iterable is not yet exhausted
            wid = self.next_worker
            self.next_worker = (self.next_worker + 1) % self.n
            if self.active[wid]:
                break
        self.index_queues[wid].put((self.send_idx, indices))
        self.task_worker[self.send_idx] = wid
        self.send_idx += 1

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __next__(self) -> Any:
        while True:
            if self.rcvd_idx >= self.send_idx:
                self._finish_epoch()
                raise StopIteration
            if self.rcvd_idx in self.buffer:
                data = self.buffer.pop(self.rcvd_idx)
                self.task_worker.pop(self.rcvd_idx, None)
                self.rcvd_idx += 1
                if isinstance(data, _IterableEnd):
                    self.active[data.worker_id] = False
                    self._put_index()
                    continue
                self._put_index()
                if isinstance(data, _ExceptionWrapper):
                    self.shutdown()
                    data.reraise()
                if isinstance(self.loader.dataset, IterableDataset):
                    _count_yield(self)
                return data
            idx, data = self._get()
            self.buffer[idx] = data

    def _get(self) -> tuple[int, Any]:
        waited = 0.0
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_S)  # type: ignore[no-any-return]
            except queue.Empty:
                waited += _POLL_S
                dead = [w.pid for w in self.workers if not w.is_alive()]
                if dead:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) "
                                       "exited unexpectedly") from None
                if self.loader.timeout and waited >= self.loader.timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {self.loader.timeout} "
                                       "seconds") from None

    def _finish_epoch(self) -> None:
        if not self.loader.persistent_workers:
            self.shutdown()

    def __len__(self) -> int:
        return len(self.loader)

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        self.shutdown()
