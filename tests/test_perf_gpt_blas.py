"""ember/_blas.py: OpenBLAS's workers stop spinning soon after a GEMM, unless turned off."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

# CPU time the process uses while its only thread sleeps right after a 2-thread GEMM: the time
# OpenBLAS's idle worker spins (2^28 cycles by default, ~0.1 s at 2.5 GHz)
CODE = """
import time, ctypes, os, numpy as np, ember
from ember import _blas
a = np.ones((512, 512), np.float32)
spin = []
for _ in range(3):
    a @ a
    c = time.process_time()
    time.sleep(0.3)
    spin.append(time.process_time() - c)
lib = ctypes.CDLL(_blas._loaded_openblas()[0], mode=os.RTLD_NOLOAD)
print(min(spin), lib.openblas_thread_timeout(), "OPENBLAS_THREAD_TIMEOUT" in os.environ)
"""


def _openblas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 0
    return max((i["num_threads"] for i in threadpool_info()
                if i["internal_api"] == "openblas" and i["threading_layer"] == "pthreads"),
               default=0)


def _run(**env: str) -> tuple[float, int, bool]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT", "EMBER_BLAS_TUNING")}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True, env={**full, **env})
    spin, timeout, leaked = out.stdout.split()
    return float(spin), int(timeout), leaked == "True"


@pytest.mark.skipif(_openblas_threads() < 2, reason="needs NumPy on a threaded pthreads OpenBLAS")
def test_openblas_workers_sleep_after_a_gemm_unless_turned_off() -> None:
    from ember._blas import THREAD_TIMEOUT

    spin, timeout, leaked = _run()
    assert (timeout, leaked) == (THREAD_TIMEOUT, False)  # set, and not passed to children
    assert spin < 0.02
    spin, timeout, _ = _run(EMBER_BLAS_TUNING="0")
    assert timeout != THREAD_TIMEOUT and spin > 0.02  # OpenBLAS's default: it spins
    _, timeout, _ = _run(OPENBLAS_THREAD_TIMEOUT="6")  # the user's own setting wins
    assert timeout == 6


def test_tune_blas_threads_keeps_results_and_can_be_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ember._blas import tune_blas_threads

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    before = a @ b
    monkeypatch.setenv("EMBER_BLAS_TUNING", "0")
    assert tune_blas_threads() is False
    monkeypatch.setenv("EMBER_BLAS_TUNING", "1")
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "6")
    assert tune_blas_threads() is False
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT")
    tune_blas_threads()  # restarts the workers (a no-op where NumPy's BLAS is another)
    assert np.array_equal(a @ b, before)
