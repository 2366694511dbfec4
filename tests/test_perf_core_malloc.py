"""ember/_malloc.py: freed arrays' memory is reused, so a step's allocations stop page-faulting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# a step's worth of 1 MiB arrays made then freed together, as activations are: with glibc's
# defaults the heap is trimmed after each step and the next step faults its pages in again
CODE = """
import resource, numpy as np, ember
def step():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(8)]
for _ in range(3):
    step()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
"""

GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))


def _faults(tuning: str) -> int:
    env = {**os.environ, "EMBER_MALLOC_TUNING": tuning}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True, env=env)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_reallocating_a_freed_array_does_not_fault_its_pages_again() -> None:
    # 10 steps of 8 MiB: ~2048 faults a step with glibc's defaults, ~0 when memory is kept
    assert _faults("1") < 100
    assert _faults("0") > 10 * 1000


def test_tune_malloc_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from ember._malloc import tune_malloc

    monkeypatch.setenv("EMBER_MALLOC_TUNING", "0")
    assert tune_malloc() is False
    monkeypatch.setenv("EMBER_MALLOC_TUNING", "1")
    assert tune_malloc() is GLIBC
