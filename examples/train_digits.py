"""Train a small CNN on handwritten digits with ember: the main job behind `make demo`.

Data: scikit-learn's 1,797 8x8 digits (shipped with the package, no download), split into
train/validation/test; or full MNIST with `--mnist DIR` (the standard IDX files, .gz or not).
Each epoch prints a progress bar and the validation accuracy and saves a checkpoint (model,
optimizer, scheduler, epoch, RNG state); `--resume` continues from it bit-identically.
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.data import DataLoader, TensorDataset


class DataError(ValueError):
    """A malformed input file (the message names it); the command line reports it without a
    traceback."""


class ResumeError(ValueError):
    """--resume was given a checkpoint from a run with other settings."""


# ---- data --------------------------------------------------------------------------------------
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not; every error names the file.

    Layout: two zero bytes, an element-type byte, a byte with the number of dimensions, one
    big-endian uint32 per dimension, then the elements in C order.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener: Any = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # a truncated or corrupt .gz
        raise DataError(f"{path}: cannot read IDX data ({type(e).__name__}: {e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}"
                         f"; expected 0000 followed by a type byte in "
                         f"{sorted(hex(k) for k in _IDX_TYPES)} and the number of dimensions)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header (expected {4 + 4 * ndim} bytes for "
                         f"{ndim} dimensions, file has {len(data)})")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = _IDX_TYPES[data[2]]
    need = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        what = "truncated" if len(body) < need else "has trailing bytes"
        raise DataError(f"{path}: IDX file {what}: header promises shape {list(shape)} = "
                         f"{need} bytes of data, file has {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


_MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find(directory: str, stem: str) -> str:
    """The file for `stem` in `directory`: plain or .gz, with '-idx' or '.idx' (both are common)."""
    names = (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz")
    for name in names:
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise FileNotFoundError(f"MNIST file not found: {os.path.join(directory, stem)} "
                            f"(looked for {', '.join(names)} in {directory})")


def _read_pair(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) scaled to [0, 1] and labels (N,) int64, checked against each other."""
    x, y = read_idx(images_path), read_idx(labels_path)
    if x.ndim != 3:
        raise DataError(f"{images_path}: expected images of shape (N, H, W), got {list(x.shape)}")
    if y.ndim != 1:
        raise DataError(f"{labels_path}: expected labels of shape (N,), got {list(y.shape)}")
    if len(x) != len(y):
        raise DataError(f"{images_path} has {len(x)} images but {labels_path} has {len(y)} "
                         f"labels")
    if len(y) and not 0 <= int(y.min()) <= int(y.max()) <= 9:
        raise DataError(f"{labels_path}: labels must be digits 0-9, found {int(y.min())}.."
                         f"{int(y.max())}")
    return (x.astype(np.float32) / 255.0)[:, None], y.astype(np.int64)


def load_mnist(directory: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST from IDX files: the last 5,000 training images (a sixth of a smaller set) become the
    validation set; t10k is the test set."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    tr_x, tr_y, te_x, te_y = (_find(directory, stem) for stem in _MNIST_STEMS)
    x, y = _read_pair(tr_x, tr_y)
    xt, yt = _read_pair(te_x, te_y)
    n_val = max(1, min(5000, len(x) // 6))
    return {"train": (x[:-n_val], y[:-n_val]), "val": (x[-n_val:], y[-n_val:]),
            "test": (xt, yt)}


def load_digits_splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits, 8x8 images scaled to [0, 1]: 70% train, 15% val, 15% test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_train, n_val = int(0.7 * len(x)), int(0.15 * len(x))
    parts = np.split(order, [n_train, n_train + n_val])
    return {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}


# ---- model -------------------------------------------------------------------------------------
class DigitNet(nn.Module):
    """conv-BN-ReLU x2, max-pool, dropout, a hidden Linear layer and the classifier.

    8x8 digits: (N, 1, 8, 8) -> (N, C, 8, 8) -> (N, 2C, 8, 8) -> pool (N, 2C, 4, 4).
    28x28 MNIST pools after the first block too (28 -> 14 -> 7), which keeps an epoch affordable.
    """

    def __init__(self, side: int = 8, channels: int = 32) -> None:
        super().__init__()
        pool_early = side >= 16
        # no conv bias: the BatchNorm after it subtracts the batch mean, so a bias would get a
        # zero gradient and only drift on rounding noise (BatchNorm's own bias does the job)
        layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU()]
        if pool_early:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False),
                   nn.BatchNorm2d(2 * channels), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        out_side = side // 4 if pool_early else side // 2
        flat = 2 * channels * out_side**2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(flat, 128),
                                        nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))

    def forward(self, x: Any) -> Any:
        return self.classifier(self.features(x))


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """Each leaf layer's output shape and parameter count, from one forward pass with hooks."""
    rows: list[tuple[str, str, int]] = []
    handles = []
    for name, mod in model.named_modules():
        if next(iter(mod.children()), None) is None and name:
            def hook(m: Any, inp: Any, out: Any, name: str = name) -> None:
                n = sum(p.numel() for p in m.parameters(recurse=False))
                rows.append((f"{name} ({type(m).__name__})", str(list(out.shape)), n))

            handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    with ember.no_grad():
        model(ember.zeros(*input_shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    w = max(len(r[0]) for r in rows) + 2
    lines = [f"{'layer':<{w}}{'output shape':<20}{'params':>10}", "-" * (w + 30)]
    lines += [f"{a:<{w}}{b:<20}{c:>10,}" for a, b, c in rows]
    total = sum(p.numel() for p in model.parameters())
    lines += ["-" * (w + 30), f"{'total parameters':<{w + 20}}{total:>10,}"]
    return "\n".join(lines)


# ---- training ----------------------------------------------------------------------------------
@dataclass
class Config:
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    seed: int = 0
    checkpoint: str | None = "checkpoints/digits.pt"
    resume: bool = False
    mnist: str | None = None
    limit: int | None = None  # train on the first N training samples (tests)
    stop_after: int | None = None  # stop after this many epochs (simulates an interruption)
    progress: bool = True
    threads: int | None = 1  # BLAS threads (None: the library's default)
    plot: str | None = "training_curves.png"
    log: Any = print


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)


def accuracy(model: nn.Module, x: Any, y: Any, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    with ember.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item())
    model.train()
    return correct / len(x)


# Settings that must match for `--resume` to continue the same run (and be bit-identical).
_RUN_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "seed", "limit", "mnist")


def _resume(cfg: Config, model: nn.Module, opt: Any, sched: Any, order: Any) -> tuple[History, int]:
    """Load the checkpoint into model/optimizer/scheduler/RNGs; returns its history and the next
    epoch. Refuses a checkpoint written with other settings: it would not be the same run."""
    assert cfg.checkpoint
    ck = ember.load(cfg.checkpoint)
    saved = ck.get("config", {})
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {getattr(cfg, k)!r}" for k in _RUN_KEYS
            if saved.get(k) != getattr(cfg, k)]
    if diff:
        raise ResumeError(f"--resume: {cfg.checkpoint} was written by a run with other settings "
                         f"({'; '.join(diff)}); use the same settings or start afresh")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    ember.set_rng_state(ck["rng"])  # dropout masks
    order.set_state(ck["data_rng"])  # the next epoch's shuffle
    cfg.log(f"resumed from {cfg.checkpoint} after epoch {ck['epoch'] + 1}")
    return History(list(ck["train_loss"]), list(ck["val_acc"])), ck["epoch"] + 1


def train(cfg: Config) -> dict[str, Any]:
    """Train (or resume) and evaluate; returns the model, history and test accuracy (None when
    stopped early by `stop_after`). The test split is only used for the final number."""
    if cfg.threads is None:
        return _train(cfg)
    # The matmuls here are small ((4096, 288) @ (288, 64) per conv); on a busy 2-core machine
    # OpenBLAS's second thread mostly spins: 2 epochs took 34-38 s with 2 threads and 10-13 s
    # with 1 at load average 10. threadpoolctl ships with scikit-learn.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.threads, user_api="blas"):
        return _train(cfg)


def _train(cfg: Config) -> dict[str, Any]:
    start = time.perf_counter()
    data = load_mnist(cfg.mnist) if cfg.mnist else load_digits_splits(cfg.seed)
    tensors = {k: (ember.tensor(x), ember.tensor(y)) for k, (x, y) in data.items()}
    xtr, ytr = tensors["train"]
    if cfg.limit:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    ember.manual_seed(cfg.seed)
    model = DigitNet(side=int(xtr.shape[-1]))
    # AdamW's decoupled decay on weights only, not on biases or BatchNorm's affine parameters
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = ember.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    order = ember.Generator().manual_seed(cfg.seed)  # data order, saved with the checkpoint
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=cfg.batch_size, shuffle=True,
                        generator=order)
    history, first_epoch = History(), 0
    if cfg.resume and cfg.checkpoint and os.path.exists(cfg.checkpoint):
        history, first_epoch = _resume(cfg, model, opt, sched, order)
    else:
        if cfg.resume:
            cfg.log(f"--resume: no checkpoint at {cfg.checkpoint}; starting from scratch")
        cfg.log(summary(model, (1, *xtr.shape[1:])))
        cfg.log(f"data: {len(xtr)} train, {len(tensors['val'][0])} validation, "
                f"{len(tensors['test'][0])} test images of {list(xtr.shape[1:])}")
    for epoch in range(first_epoch, cfg.epochs):
        model.train()
        total, seen = 0.0, 0
        batches = _progress(loader, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            seen += len(xb)
            if hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=f"{total / seen:.4f}")
        sched.step()
        history.train_loss.append(total / seen)
        history.val_acc.append(accuracy(model, *tensors["val"]))
        cfg.log(f"epoch {epoch + 1:>2}/{cfg.epochs}: train loss {history.train_loss[-1]:.4f}, "
                f"validation accuracy {100 * history.val_acc[-1]:.1f}%")
        if cfg.checkpoint:
            os.makedirs(os.path.dirname(cfg.checkpoint) or ".", exist_ok=True)
            ember.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "epoch": epoch,
                        "rng": ember.get_rng_state(), "data_rng": order.get_state(),
                        "train_loss": history.train_loss, "val_acc": history.val_acc,
                        "config": {k: getattr(cfg, k) for k in _RUN_KEYS}},
                       cfg.checkpoint)
        if cfg.stop_after is not None and epoch + 1 >= cfg.stop_after:
            return {"model": model, "history": history, "test_accuracy": None}
    test_acc = accuracy(model, *tensors["test"])
    cfg.log(f"test accuracy: {100 * test_acc:.1f}%")
    if cfg.plot:
        plot(history, cfg.plot)
        cfg.log(f"training curves: {cfg.plot}")
    if cfg.checkpoint:
        cfg.log(f"checkpoint: {cfg.checkpoint}")
    cfg.log(f"wall time: {time.perf_counter() - start:.1f} s")
    return {"model": model, "history": history, "test_accuracy": test_acc}


def _progress(loader: Any, desc: str, enabled: bool) -> Any:
    if not enabled:
        return loader
    try:
        from tqdm import tqdm
    except ImportError:
        return loader
    return tqdm(loader, desc=desc, leave=False, file=sys.stdout)


def plot(history: History, path: str) -> None:
    """Loss and validation accuracy per epoch, as a PNG (matplotlib's Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history.train_loss) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, history.train_loss, marker="o")
    a.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    b.plot(epochs, [100 * v for v in history.val_acc], marker="o", color="tab:green")
    b.set(title="validation accuracy", xlabel="epoch", ylabel="%")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--epochs", type=int, default=Config.epochs)
    p.add_argument("--batch-size", type=int, default=Config.batch_size)
    p.add_argument("--lr", type=float, default=Config.lr)
    p.add_argument("--weight-decay", type=float, default=Config.weight_decay)
    p.add_argument("--seed", type=int, default=Config.seed)
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on the first N training images only")
    p.add_argument("--checkpoint", default=Config.checkpoint, help="saved after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--mnist", metavar="DIR", help="train on the MNIST IDX files in DIR")
    p.add_argument("--plot", default=Config.plot, help="PNG of the training curves")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=Config.threads,
                   help="BLAS threads (default 1: the matmuls are small; 0: the library default)")
    a = p.parse_args(argv)
    cfg = Config(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay,
                 seed=a.seed, limit=a.limit, checkpoint=a.checkpoint, resume=a.resume,
                 mnist=a.mnist, plot=a.plot, progress=not a.no_progress,
                 threads=a.threads or None)
    try:
        train(cfg)
    except (FileNotFoundError, DataError, ResumeError) as e:  # the user's input, not a bug
        p.exit(2, f"{p.prog}: error: {e}\n")
    except KeyboardInterrupt:
        # checkpoints are written whole (ember.save renames a finished file into place), so the
        # last completed epoch is intact
        hint = (f"; the last finished epoch is in {cfg.checkpoint}: add --resume to continue"
                if cfg.checkpoint and os.path.exists(cfg.checkpoint) else "")
        print(f"\ninterrupted{hint}", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
