"""`python -m ember.compat script.py`: PyTorch programs run unchanged on ember."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAMS = os.path.join(os.path.dirname(__file__), "compat_programs")


def run_program(name: str, *args: str, timeout: int = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "ember.compat", os.path.join(PROGRAMS, name),
                           *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_basics_script_runs_unchanged() -> None:
    out = run_program("basics.py")
    assert out.strip().endswith("ok")


def test_install_in_process() -> None:
    code = ("import ember.compat; ember.compat.install(); import torch, torch.nn as nn; "
            "import torch.nn.functional as F; import torch.optim.lr_scheduler; "
            "from torch.utils.data import DataLoader; import ember; "
            "assert torch.Tensor is ember.Tensor; print(torch.cuda.is_available())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_usage_message() -> None:
    proc = subprocess.run([sys.executable, "-m", "ember.compat"], capture_output=True, text=True)
    assert proc.returncode != 0 and "usage" in proc.stderr


@pytest.mark.parametrize("attr", ["cuda.amp.GradScaler", "amp.autocast", "jit.script",
                                  "onnx.export", "backends.mps.is_available"])
def test_stub_paths_exist(attr: str) -> None:
    code = f"import ember.compat; ember.compat.install(); import torch; torch.{attr}"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
