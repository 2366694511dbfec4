"""Test set-up: in CI the parity oracle (torch) must be importable; never skip silently."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("CI") == "true":
    import torch  # noqa: F401  (fails loudly if the oracle is missing in CI)


@pytest.fixture(autouse=True)
def _seed() -> None:
    import ember

    np.random.seed(0)
    ember.manual_seed(0)
