"""Durability: a save killed at any moment leaves the old or the new checkpoint; a fuzzed file
never raises anything but CheckpointError."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember.serialization import CheckpointError

SAVER = """
import sys, ember
path, value = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
while True:
    ember.save({"w": ember.full((2_000_000,), value), "tag": value}, path)
"""


def test_killed_saves_never_corrupt_the_checkpoint(tmp_path) -> None:
    path = str(tmp_path / "ckpt.pt")
    ember.save({"w": ember.full((2_000_000,), 0.0), "tag": 0.0}, path)
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(12):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, path, str(float(i + 1))],
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.15)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = ember.load(path)
        tag = got["tag"]
        assert got["w"][0].item() == tag and got["w"][-1].item() == tag
        assert tag in (0.0, *(float(k + 1) for k in range(i + 1)))
        seen.add(tag)
    ember.save({"w": ember.zeros(1), "tag": -1.0}, path)
    assert os.listdir(tmp_path) == ["ckpt.pt"], "the next good save removes dead writers' temps"
    assert ember.load(path)["tag"] == -1.0


def _valid_files() -> list[bytes]:
    out = []
    for obj in ({"a": ember.ones(3), "b": [1, 2.5, "x"], "c": (None, True)},
                ember.tensor([[1, 2], [3, 4]])):
        buf = io.BytesIO()
        ember.save(obj, buf)
        out.append(buf.getvalue())
    buf = io.BytesIO()
    ember.serialization._write_safetensors({"x": ember.ones(2, 2), "y": ember.zeros(3)}, buf,
                                           {"k": "v"})
    out.append(buf.getvalue())
    buf = io.BytesIO()  # torch's legacy non-zip layout
    x = torch.arange(6.0)
    torch.save({"x": x, "v": x[2:4], "n": [1, "a"]}, buf, _use_new_zipfile_serialization=False)
    out.append(buf.getvalue())
    return out


VALID = _valid_files()


FUZZ_EXAMPLES = int(os.environ.get("EMBER_FUZZ_EXAMPLES", "300"))  # more locally: 4000 passed


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(VALID) - 1),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzzed_files_raise_only_checkpoint_errors(which: int, edits, cut) -> None:
    data = bytearray(VALID[which])
    for pos, byte in edits:
        data[pos % len(data)] = byte
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    start = time.perf_counter()
    try:
        ember.load(io.BytesIO(bytes(data)))
    except CheckpointError:
        pass
    assert time.perf_counter() - start < 2.0
