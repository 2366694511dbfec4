"""examples/train_digits.py (`make demo`): it learns, resumes bit-identically, reads IDX files and
writes checkpoints that real torch loads."""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import ember

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "train_digits.py"


def _load_demo() -> ModuleType:
    """The example is a script, not a package: import it from its path once."""
    if "train_digits" in sys.modules:
        return sys.modules["train_digits"]
    spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_digits"] = mod  # dataclasses look their module up while decorating
    spec.loader.exec_module(mod)
    return mod


demo = _load_demo()


def _quiet(**kw: Any) -> Any:
    """A Config for tests: no progress bars, no plot, output collected instead of printed."""
    lines: list[str] = []
    base: dict[str, Any] = {"progress": False, "plot": None, "checkpoint": None,
                            "log": lines.append}
    base.update(kw)
    return demo.Config(**base), lines


def _arrays(state: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


# ---- learning -----------------------------------------------------------------------------
def test_short_schedule_on_a_subset_learns(tmp_path: Path) -> None:
    png = tmp_path / "curves.png"
    cfg, lines = _quiet(epochs=3, limit=200, batch_size=32, plot=str(png))
    out = demo.train(cfg)
    hist = out["history"]
    assert len(hist.train_loss) == len(hist.val_acc) == 3
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]  # the loss falls
    assert out["test_accuracy"] > 0.5  # chance is 10%
    assert any(line.startswith("test accuracy: ") and line.endswith("%") for line in lines)
    # the summary's total is the model's parameter count; one row per leaf layer
    total = sum(p.numel() for p in out["model"].parameters())
    rows = lines[0].splitlines()
    assert rows[-1].startswith("total parameters") and rows[-1].split()[-1] == f"{total:,}"
    assert "features.0 (Conv2d)" in lines[0]
    assert "[1, 64, 4, 4]" in lines[0]  # the pooled feature map of an 8x8 digit
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- resume -------------------------------------------------------------------------------
def test_resume_in_a_fresh_process_is_bit_identical(tmp_path: Path) -> None:
    """3 epochs straight == 1 epoch, stop, resume in a new process for epochs 2-3: every
    parameter, buffer, optimizer moment and per-epoch loss equal bit for bit."""
    common = {"epochs": 3, "limit": 128, "batch_size": 32}
    straight_ck, split_ck = tmp_path / "straight.pt", tmp_path / "split.pt"
    straight = demo.train(_quiet(**common, checkpoint=str(straight_ck))[0])
    stopped = demo.train(_quiet(**common, checkpoint=str(split_ck), stop_after=1)[0])
    assert stopped["test_accuracy"] is None and len(stopped["history"].train_loss) == 1
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "3", "--limit", "128", "--batch-size", "32",
         "--checkpoint", str(split_ck), "--resume", "--no-progress", "--plot", ""],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
            "PYTHONPATH", "")])})  # this tree's ember, wherever the venv's install points
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and "after epoch 1" in proc.stdout
    a, b = ember.load(str(straight_ck)), ember.load(str(split_ck))
    assert a["epoch"] == b["epoch"] == 2
    assert a["train_loss"] == b["train_loss"] == straight["history"].train_loss
    assert a["val_acc"] == b["val_acc"]
    wa, wb = _arrays(a["model"]), _arrays(b["model"])
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k
    for k, v in _arrays(straight["model"].state_dict()).items():
        assert np.array_equal(v, wb[k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert np.array_equal(sa[i][name].numpy(), sb[i][name].numpy()), (i, name)
    assert a["scheduler"] == b["scheduler"]
    assert np.array_equal(a["rng"].numpy(), b["rng"].numpy())


def test_resume_refuses_a_checkpoint_from_other_settings(tmp_path: Path) -> None:
    ck = tmp_path / "ck.pt"
    demo.train(_quiet(epochs=2, limit=64, checkpoint=str(ck), stop_after=1)[0])
    with pytest.raises(ValueError, match=r"ck\.pt.*epochs: checkpoint 2, now 5"):
        demo.train(_quiet(epochs=5, limit=64, checkpoint=str(ck), resume=True)[0])


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path: Path) -> None:
    cfg, lines = _quiet(epochs=1, limit=64, checkpoint=str(tmp_path / "none.pt"), resume=True)
    out = demo.train(cfg)
    assert "no checkpoint" in lines[0] and len(out["history"].train_loss) == 1
    assert (tmp_path / "none.pt").exists()


# ---- checkpoints load in real torch -------------------------------------------------------
class _TorchDigitNet(torch.nn.Module):
    """The demo's 8x8 DigitNet written in torch, with the same module names."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, padding=1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * c * 16, 128),
                                        nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def test_checkpoint_loads_in_torch_and_predicts_the_same(tmp_path: Path) -> None:
    ck = tmp_path / "digits.pt"
    out = demo.train(_quiet(epochs=1, limit=128, checkpoint=str(ck))[0])
    loaded = torch.load(ck, weights_only=True)
    assert set(loaded) >= {"model", "optimizer", "scheduler", "epoch", "rng", "data_rng"}
    net = _TorchDigitNet()
    net.load_state_dict(loaded["model"])  # strict: every key and shape must match
    assert int(net.features[1].num_batches_tracked) == 2  # 128 images / 64 per batch
    x = demo.load_digits_splits(0)["test"][0]
    net.eval()
    out["model"].eval()
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = out["model"](ember.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the optimizer and scheduler parts load into torch's own classes too
    opt = torch.optim.AdamW([{"params": [p for p in net.parameters() if p.ndim > 1]},
                             {"params": [p for p in net.parameters() if p.ndim <= 1]}])
    opt.load_state_dict(loaded["optimizer"])
    assert opt.param_groups[0]["weight_decay"] == demo.Config.weight_decay
    assert float(opt.state[net.features[0].weight]["step"]) == 2.0
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=99)
    sched.load_state_dict(loaded["scheduler"])
    assert sched.T_max == 1 and sched.last_epoch == 1


# ---- IDX reader ---------------------------------------------------------------------------
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
          np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def _idx_bytes(a: np.ndarray) -> bytes:
    a = a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a
    head = bytes([0, 0, _CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.tobytes()


def _write(path: Path, payload: bytes) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_reader_reads_what_was_written(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).astype(np.uint8)
    floats = rng.standard_normal((3, 4)).astype(">f4")
    ints = rng.integers(-1000, 1000, (7,)).astype(">i4")
    for name, a in (("img", images), ("lbl", labels), ("f32", floats), ("i32", ints)):
        got = demo.read_idx(str(_write(tmp_path / f"{name}-idx{suffix}", _idx_bytes(a))))
        assert got.shape == a.shape and got.dtype.isnative and np.array_equal(got, a), name


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_reader_errors_name_the_file(tmp_path: Path, suffix: str) -> None:
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    missing = tmp_path / f"missing{suffix}"
    with pytest.raises(FileNotFoundError, match=f"not found: {missing}"):
        demo.read_idx(str(missing))
    bad_magic = _write(tmp_path / f"magic{suffix}", b"\x1f\x00" + good[2:])
    with pytest.raises(ValueError, match=f"{bad_magic}: not an IDX file.*magic"):
        demo.read_idx(str(bad_magic))
    short = _write(tmp_path / f"short{suffix}", good[:-5])
    with pytest.raises(ValueError, match=f"{short}: IDX file truncated.*24 bytes.*has 19"):
        demo.read_idx(str(short))
    header_only = _write(tmp_path / f"header{suffix}", good[:9])
    with pytest.raises(ValueError, match=f"{header_only}: truncated IDX header"):
        demo.read_idx(str(header_only))


def test_idx_reader_truncated_gzip_stream_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut-idx3-ubyte.gz"
    whole = gzip.compress(_idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=f"{path}: cannot read IDX data"):
        demo.read_idx(str(path))


def _mnist_dir(root: Path, n_train: int, n_test: int, n_train_labels: int | None = None,
               gz: bool = True) -> Path:
    """A tiny MNIST in IDX files: sklearn digits scaled up to 28x28 (8x8 -> 24x24, padded)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    big = np.kron(d.images, np.ones((3, 3))) * (255 / 16)
    imgs = np.pad(big, ((0, 0), (2, 2), (2, 2))).round().astype(np.uint8)
    labels = d.target.astype(np.uint8)
    sfx = ".gz" if gz else ""
    root.mkdir(exist_ok=True)
    _write(root / f"train-images-idx3-ubyte{sfx}", _idx_bytes(imgs[:n_train]))
    _write(root / f"train-labels-idx1-ubyte{sfx}",
           _idx_bytes(labels[:n_train_labels if n_train_labels is not None else n_train]))
    _write(root / f"t10k-images-idx3-ubyte{sfx}", _idx_bytes(imgs[-n_test:]))
    _write(root / f"t10k-labels-idx1-ubyte{sfx}", _idx_bytes(labels[-n_test:]))
    return root


def test_load_mnist_mismatched_counts_and_missing_files(tmp_path: Path) -> None:
    bad = _mnist_dir(tmp_path / "bad", 60, 20, n_train_labels=59, gz=False)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte has 60 images but .*"
                                         r"train-labels-idx1-ubyte has 59 labels"):
        demo.load_mnist(str(bad))
    os.remove(bad / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        demo.load_mnist(str(bad))
    with pytest.raises(FileNotFoundError, match="directory not found"):
        demo.load_mnist(str(tmp_path / "nowhere"))


def test_command_line_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    bad = _mnist_dir(tmp_path / "bad", 60, 20, n_train_labels=59, gz=True)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--mnist", str(bad), "--no-progress"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("train_digits.py: error: ")
    assert "has 60 images but" in proc.stderr and "train-labels-idx1-ubyte.gz" in proc.stderr


def test_mnist_option_trains_on_idx_files(tmp_path: Path) -> None:
    """`--mnist DIR` end to end on a tiny 28x28 set: the split, the 28x28 model, one epoch."""
    root = _mnist_dir(tmp_path / "mnist", 120, 30)
    splits = demo.load_mnist(str(root))
    assert [len(splits[k][0]) for k in ("train", "val", "test")] == [100, 20, 30]
    assert splits["train"][0].shape[1:] == (1, 28, 28) and splits["train"][0].max() <= 1.0
    cfg, lines = _quiet(epochs=1, mnist=str(root), checkpoint=str(tmp_path / "m.pt"))
    out = demo.train(cfg)
    assert "[1, 64, 7, 7]" in lines[0]  # 28 -> 14 -> 7 after the two poolings
    assert 0.0 <= out["test_accuracy"] <= 1.0 and len(out["history"].val_acc) == 1


# ---- parity: the same program on real torch -----------------------------------------------
def test_the_same_script_on_torch_follows_the_same_curve(tmp_path: Path) -> None:
    """The demo with every `ember` replaced by `torch` is a torch program; from the same seed it
    draws the same initial weights, batch order and dropout masks, so losses and weights agree."""
    src = SCRIPT.read_text().replace("ember", "torch")
    twin = ModuleType("train_digits_torch")
    twin.__file__ = str(tmp_path / "train_digits_torch.py")
    sys.modules[twin.__name__] = twin
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only contend on a shared machine
    try:
        exec(compile(src, twin.__file__, "exec"), twin.__dict__)
        kw = {"epochs": 2, "limit": 128, "batch_size": 32}
        want = twin.train(twin.Config(progress=False, plot=None, checkpoint=None,
                                      log=lambda *a: None, **kw))
    finally:
        del sys.modules[twin.__name__]
        torch.set_num_threads(threads)
    got = demo.train(_quiet(**kw)[0])
    np.testing.assert_allclose(got["history"].train_loss, want["history"].train_loss, rtol=1e-5)
    # an undertrained net has logits near ties: allow one image either way (1/269, 1/271)
    np.testing.assert_allclose(got["history"].val_acc, want["history"].val_acc, atol=0.004)
    assert abs(got["test_accuracy"] - want["test_accuracy"]) < 0.004
    theirs = {k: v.detach().numpy() for k, v in want["model"].state_dict().items()}
    mine = _arrays(got["model"].state_dict())
    assert mine.keys() == theirs.keys()
    for k in mine:  # weights, BatchNorm's affine and running statistics
        np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-4, atol=5e-5, err_msg=k)
