"""ember.set_num_threads / get_num_threads (as torch's) and the parallel_for helper."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import ember
from ember._parallel import parallel_for


@pytest.fixture
def restore_threads():
    n = ember.get_num_threads()
    yield
    ember.set_num_threads(n)


def test_set_get_num_threads(restore_threads) -> None:
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3


@pytest.mark.parametrize("bad", [0, -1, True])
def test_set_num_threads_rejects_non_positive(bad: int, restore_threads) -> None:
    with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
        ember.set_num_threads(bad)
    if not isinstance(bad, bool):  # torch says the same for the same integers
        with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
            torch.set_num_threads(bad)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 5, 1000, 100_003])
def test_parallel_for_covers_each_index_once(threads: int, n: int, restore_threads) -> None:
    ember.set_num_threads(threads)
    hits = np.zeros(n, dtype=np.int64)
    ranges: list[tuple[int, int]] = []

    def fn(a: int, b: int) -> None:
        ranges.append((a, b))
        hits[a:b] += 1

    parallel_for(fn, n, grain=100)
    assert (hits == 1).all()
    assert len(ranges) <= threads
    assert len(ranges) == 1 or all(b - a >= 100 for a, b in ranges)


def test_parallel_for_raises_a_workers_error(restore_threads) -> None:
    ember.set_num_threads(2)

    def fn(a: int, b: int) -> None:
        if a > 0:
            raise ValueError(f"range {a}:{b}")

    with pytest.raises(ValueError, match="range 50:100"):
        parallel_for(fn, 100, grain=10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_parallel_for_works_in_a_forked_child(restore_threads) -> None:
    ember.set_num_threads(2)
    parallel_for(lambda a, b: None, 100, grain=10)  # the parent's pool now has a thread
    pid = os.fork()
    if pid == 0:  # child: the inherited pool has no threads; a fresh one must be made
        out = np.zeros(100)

        def fn(a: int, b: int) -> None:
            out[a:b] = 1

        parallel_for(fn, 100, grain=10)
        os._exit(0 if out.sum() == 100 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("item_size", [1, 7, 100, 1000])
def test_parallel_for_grain_counts_elements_of_items(item_size: int, restore_threads) -> None:
    ember.set_num_threads(3)
    ranges: list[tuple[int, int]] = []
    parallel_for(lambda a, b: ranges.append((a, b)), 300, grain=700, item_size=item_size)
    per_range = -(-700 // item_size)  # items a range needs to hold 700 elements
    assert len(ranges) == max(1, min(3, 300 // per_range))
    assert sorted(ranges)[0][0] == 0 and sorted(ranges)[-1][1] == 300
    assert len(ranges) == 1 or all(b - a >= per_range for a, b in ranges)
