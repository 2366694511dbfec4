"""ember.utils.data against torch.utils.data: datasets, samplers, collate and the DataLoader."""

from __future__ import annotations

import collections
import os
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import ember
import ember.utils.data as edata


class Squares(edata.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        return ember.tensor([i, i * i]), i


class TSquares(tdata.Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        return torch.tensor([i, i * i]), i


def as_lists(x):
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        return (str(x.dtype).split(".")[-1], x.tolist())
    if isinstance(x, dict):
        return {k: as_lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [as_lists(v) for v in x]
    return x


def test_sequential_batches_match_torch() -> None:
    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
               {"batch_size": 4, "sampler": [9, 1, 5, 3, 7]}):
        e = [as_lists(b) for b in edata.DataLoader(Squares(), **kw)]
        t = [as_lists(b) for b in tdata.DataLoader(TSquares(), **kw)]
        assert e == t, kw
        assert len(edata.DataLoader(Squares(), **kw)) == len(tdata.DataLoader(TSquares(), **kw))


def test_default_collate_matches_torch() -> None:
    Point = collections.namedtuple("Point", "x y")
    cases = [
        ([1.5, 2.5], [1.5, 2.5]),
        ([1, 2], [1, 2]),
        ([True, False], [True, False]),
        (["a", "b"], ["a", "b"]),
        ([{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],) * 2,
        ([(1, "x"), (2, "y")],) * 2,
        ([np.ones(2, dtype=np.float32), np.zeros(2, dtype=np.float32)],) * 2,
        ([np.float64(1.0), np.float64(2.0)],) * 2,
        ([Point(1, 2.0), Point(3, 4.0)],) * 2,
    ]
    for e_in, t_in in cases:
        assert as_lists(edata.default_collate(e_in)) == as_lists(tdata.default_collate(t_in))
    e = edata.default_collate([ember.ones(2), ember.zeros(2)])
    t = tdata.default_collate([torch.ones(2), torch.zeros(2)])
    assert as_lists(e) == as_lists(t)
    assert type(edata.default_collate([Point(1, 2), Point(3, 4)])).__name__ == "Point"


def test_argument_errors_match_torch() -> None:
    bad = [
        {"shuffle": True, "sampler": [0, 1]},
        {"batch_sampler": [[0, 1]], "batch_size": 2},
        {"batch_sampler": [[0, 1]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"num_workers": -1},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
        {"timeout": -1},
    ]
    for kw in bad:
        with pytest.raises(ValueError) as te:
            tdata.DataLoader(TSquares(), **kw)
        with pytest.raises(ValueError) as ee:
            edata.DataLoader(Squares(), **kw)
        assert str(ee.value) == str(te.value), kw


def test_datasets_and_subsets() -> None:
    x, y = ember.arange(10).reshape(5, 2), ember.arange(5)
    ds = edata.TensorDataset(x, y)
    assert len(ds) == 5 and ds[1][0].tolist() == [2, 3] and ds[1][1].item() == 1
    with pytest.raises(AssertionError):
        edata.TensorDataset(x, ember.arange(4))
    sub = edata.Subset(ds, [4, 0])
    assert len(sub) == 2 and sub[0][1].item() == 4
    cat = edata.ConcatDataset([ds, sub])
    assert len(cat) == 7 and cat[5][1].item() == 4 and cat[-1][1].item() == 0
    stacked = edata.StackDataset(a=ds, b=ds)
    assert stacked[2]["b"][1].item() == 2


def test_random_split_lengths_and_fractions() -> None:
    gen = ember.Generator().manual_seed(1)
    parts = edata.random_split(range(10), [0.5, 0.3, 0.2], generator=gen)
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(i for p in parts for i in p) == list(range(10))
    parts = edata.random_split(range(7), [0.5, 0.5])
    assert [len(p) for p in parts] == [4, 3]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        edata.random_split(range(5), [2, 2])


def test_random_sampler_is_reproducible_and_a_permutation() -> None:
    ember.manual_seed(3)
    a = list(edata.RandomSampler(range(20)))
    ember.manual_seed(3)
    b = list(edata.RandomSampler(range(20)))
    assert a == b and sorted(a) == list(range(20))
    g = ember.Generator().manual_seed(0)
    r = list(edata.RandomSampler(range(5), replacement=True, num_samples=40, generator=g))
    assert len(r) == 40 and set(r) <= set(range(5))
    r = list(edata.RandomSampler(range(5), num_samples=12))
    assert len(r) == 12 and sorted(r[:5]) == list(range(5))
    ember.manual_seed(0)
    e_order = [b[1].tolist() for b in edata.DataLoader(Squares(), batch_size=4, shuffle=True)]
    ember.manual_seed(0)
    assert e_order == [b[1].tolist() for b in edata.DataLoader(Squares(), batch_size=4,
                                                                shuffle=True)]


def test_other_samplers() -> None:
    s = list(edata.SubsetRandomSampler([3, 5, 7], generator=ember.Generator().manual_seed(0)))
    assert sorted(s) == [3, 5, 7]
    w = list(edata.WeightedRandomSampler([0.0, 0.0, 1.0], 6))
    assert w == [2] * 6
    w = list(edata.WeightedRandomSampler([1.0, 1.0, 1.0], 3, replacement=False))
    assert sorted(w) == [0, 1, 2]
    bs = edata.BatchSampler(edata.SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    assert len(edata.BatchSampler(range(7), 3, drop_last=True)) == 2


def _init(worker_id: int) -> None:
    os.environ["EMBER_TEST_WORKER"] = str(worker_id)


class WhoAmI(edata.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        info = edata.get_worker_info()
        return i, info.id, os.getpid(), os.environ.get("EMBER_TEST_WORKER")


def test_worker_processes_keep_order_and_run_init() -> None:
    dl = edata.DataLoader(WhoAmI(), batch_size=2, num_workers=2, worker_init_fn=_init,
                          collate_fn=lambda b: b)
    batches = list(dl)
    assert [s[0] for b in batches for s in b] == list(range(8))
    assert {s[2] for b in batches for s in b} != {os.getpid()}
    assert all(s[1] == int(s[3]) for b in batches for s in b)
    assert edata.get_worker_info() is None
    tensors = list(edata.DataLoader(Squares(), batch_size=4, num_workers=2))
    assert [b[1].tolist() for b in tensors] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


class Faulty(edata.Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int):
        if i == 4:
            raise ValueError("sample 4 is broken")
        return i


def test_worker_exception_is_reraised_with_traceback() -> None:
    with pytest.raises(ValueError, match=r"(?s)Caught ValueError in DataLoader worker process \d"
                                         r".*Traceback.*sample 4 is broken"):
        list(edata.DataLoader(Faulty(), batch_size=2, num_workers=2))


class Stream(edata.IterableDataset):
    def __iter__(self):
        info = edata.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 10, step))


def test_iterable_dataset_with_and_without_workers() -> None:
    assert [b.tolist() for b in edata.DataLoader(Stream(), batch_size=4)] == [[0, 1, 2, 3],
                                                                             [4, 5, 6, 7], [8, 9]]
    got = [v for b in edata.DataLoader(Stream(), batch_size=2, num_workers=2) for v in b.tolist()]
    assert sorted(got) == list(range(10))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        edata.DataLoader(Stream(), shuffle=True)


def test_persistent_workers_serve_several_epochs() -> None:
    dl = edata.DataLoader(WhoAmI(), batch_size=4, num_workers=2, persistent_workers=True,
                          collate_fn=lambda b: b)
    pids1 = {s[2] for b in dl for s in b}
    pids2 = {s[2] for b in dl for s in b}
    assert pids1 == pids2 and len(list(dl)) == 2
    dl._iterator.shutdown()


SHUFFLED = {
    "randperm": lambda m, d: m.randperm(20).tolist(),
    "random": lambda m, d: list(d.RandomSampler(range(20))),
    "random-replacement": lambda m, d: list(d.RandomSampler(range(20), replacement=True)),
    "random-num_samples": lambda m, d: list(d.RandomSampler(range(7), num_samples=17)),
    "random-generator": lambda m, d: list(d.RandomSampler(
        range(7), generator=m.Generator().manual_seed(3))),
    "subset-random": lambda m, d: list(d.SubsetRandomSampler([3, 5, 7, 9, 11])),
    "weighted": lambda m, d: list(d.WeightedRandomSampler([0.1, 0.5, 0.2, 0.2], 10)),
    "weighted-no-replacement": lambda m, d: list(d.WeightedRandomSampler(
        [0.1, 0.5, 0.2, 0.2, 1, 3], 4, replacement=False)),
    "random_split": lambda m, d: [list(s) for s in d.random_split(range(11), [0.3, 0.3, 0.4])],
    "loader-shuffle": lambda m, d: ([b.tolist() for b in d.DataLoader(
        m.arange(10), batch_size=3, shuffle=True)], m.rand(3).tolist()),
    "loader-shuffle-generator": lambda m, d: [b.tolist() for b in d.DataLoader(
        m.arange(10), batch_size=3, shuffle=True, generator=m.Generator().manual_seed(1))],
    "loader-two-epochs": lambda m, d: [[b.tolist() for b in dl] for dl in [d.DataLoader(
        m.arange(9), batch_size=4, shuffle=True, drop_last=True)] * 2],
    "loader-workers": lambda m, d: ([b.tolist() for b in d.DataLoader(
        m.arange(10), batch_size=3, shuffle=True, num_workers=2)], m.rand(2).tolist()),
}


@pytest.mark.parametrize("name", list(SHUFFLED))
def test_shuffled_orders_equal_torchs_for_the_same_seed(name: str) -> None:
    torch.manual_seed(5)
    ref = SHUFFLED[name](torch, tdata)
    ember.manual_seed(5)
    assert SHUFFLED[name](ember, edata) == ref


def test_distributed_sampler_matches_torch() -> None:
    for n, replicas, drop_last, shuffle in [(10, 3, False, True), (10, 3, True, True),
                                            (11, 4, False, False), (2, 4, False, True)]:
        for rank in range(replicas):
            t = tdata.DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=7,
                                         drop_last=drop_last)
            e = edata.DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=7,
                                         drop_last=drop_last)
            for epoch in (0, 3):
                t.set_epoch(epoch)
                e.set_epoch(epoch)
                assert list(e) == list(t) and len(e) == len(t)
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval "):
        edata.DistributedSampler(range(5), 3, 3)
    with pytest.raises(RuntimeError, match="distributed"):
        edata.DistributedSampler(range(5))  # no process group to ask


class NumpyDraw(edata.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return i, float(np.random.random_sample()), edata.get_worker_info().seed


def test_workers_seed_numpy_like_torch() -> None:
    from torch.utils.data._utils.worker import _generate_state

    ember.manual_seed(11)
    rows = [s for b in edata.DataLoader(NumpyDraw(), batch_size=1, num_workers=2,
                                        collate_fn=lambda b: b) for s in b]
    ember.manual_seed(11)
    base = int(ember.empty((), dtype=ember.int64).random_().item())
    streams = [np.random.RandomState(_generate_state(base, wid)) for wid in range(2)]
    for i, draw, seed in rows:
        wid = i % 2  # batches go to the workers round-robin
        assert seed == base + wid
        assert draw == streams[wid].random_sample()
    assert rows[0][1] != rows[1][1]  # the two workers' NumPy streams differ


def test_loader_guards_and_iterator_match_torch() -> None:
    for mod in (tdata, edata):
        ds = mod.TensorDataset(*(torch.arange(5),) if mod is tdata else (ember.arange(5),))
        with pytest.raises(ValueError, match="multiprocessing_context can only be used"):
            mod.DataLoader(ds, multiprocessing_context="fork")
        with pytest.raises(ValueError, match="should specify a valid start method"):
            mod.DataLoader(ds, num_workers=1, multiprocessing_context="nope")
        dl = mod.DataLoader(ds, batch_size=2)
        with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                             "DataLoader is initialized"):
            dl.batch_size = 3
        dl.num_workers = 0  # not a guarded attribute
        it = iter(dl)
        assert len(it) == 3 and iter(it) is it
        assert [b[0].tolist() for b in it] == [[0, 1], [2, 3], [4]]
        with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no "
                                             "accelerator is found"):
            iter(mod.DataLoader(ds, pin_memory=True))


def test_dataset_classes_refuse_what_torch_refuses() -> None:
    for mod in (tdata, edata):
        with pytest.raises(TypeError, match="abstract"):
            mod.IterableDataset()
        with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
            list(mod.ChainDataset([range(2)]))
    with pytest.raises(TypeError) as te:
        tdata.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError) as ee:
        edata.default_collate([np.array(["a"]), np.array(["b"])])
    assert str(ee.value) == str(te.value)


def _bad_init(worker_id: int) -> None:
    raise KeyError("init broke")


class KillsItsWorker(edata.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        if i == 1:
            os.kill(os.getpid(), 9)
        return i


class Sleepy(edata.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int):
        import time

        time.sleep(1.5)  # longer than the 1 s timeout
        return i


def test_worker_failures_surface_as_torchs_errors() -> None:
    with pytest.raises(KeyError) as err:
        list(edata.DataLoader(range(4), num_workers=2, worker_init_fn=_bad_init))
    text = str(err.value)  # torch's KeyErrorMessage: no quotes, the worker's traceback inside
    assert text.startswith("Caught KeyError in DataLoader worker process 0.\nOriginal Traceback")
    assert text.rstrip().endswith("KeyError: 'init broke'")
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           "unexpectedly"):
        list(edata.DataLoader(KillsItsWorker(), num_workers=2))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 1 seconds"):
        list(edata.DataLoader(Sleepy(), num_workers=1, timeout=1))


class SizedStream(edata.IterableDataset):
    def __iter__(self):
        return iter(range(5))

    def __len__(self) -> int:
        return 5


class TSizedStream(tdata.IterableDataset):
    def __iter__(self):
        return iter(range(5))

    def __len__(self) -> int:
        return 5


def test_iterable_dataset_longer_than_its_len_warns_like_torch() -> None:
    """Each of two workers iterates the whole stream: 10 samples after len() said 5."""
    counts = []
    for mod, ds in ((tdata, TSizedStream()), (edata, SizedStream())):
        for workers in (0, 2):
            dl = mod.DataLoader(ds, batch_size=None, num_workers=workers)
            assert len(dl) == 5
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = len(list(dl))
            texts = [str(w.message) for w in caught
                     if "Length of IterableDataset" in str(w.message)]
            counts.append((workers, got, len(texts)))
            if texts:
                assert "was reported to be 5(when accessing len(dataloader)), but 6 samples have " \
                       "been fetched. For multiprocessing data-loading" in texts[0]
    assert counts[:2] == counts[2:] == [(0, 5, 0), (2, 10, 5)]
