"""The benchmark workloads, written once against a library module (`ember` or `torch`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Step = Callable[[], Any]


def tiny_ops(lib: Any) -> Step:
    """(x * w + b).relu().sum().backward() on 8x8 float32 tensors: per-op overhead."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((8, 8)), dtype=lib.float32)
    w = lib.tensor(rng.standard_normal((8, 8)), dtype=lib.float32, requires_grad=True)
    b = lib.tensor(rng.standard_normal((8, 8)), dtype=lib.float32, requires_grad=True)

    def step() -> None:
        (x * w + b).relu().sum().backward()

    return step


def _copy_weights(src: Any, dst: Any, lib: Any) -> None:
    """Load the same initial weights into both libraries (from NumPy arrays)."""
    dst.load_state_dict({k: lib.tensor(v) for k, v in src.items()})


def mlp_train(lib: Any) -> Step:
    """784-512-512-10 MLP, batch 128, cross-entropy, SGD with momentum."""
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((128, 784)), dtype=lib.float32)
    y = lib.tensor(rng.integers(0, 10, 128))

    def step() -> None:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def _cnn(lib: Any) -> Any:
    nn = lib.nn

    class BasicBlock(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x: Any) -> Any:
            out = nn.functional.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return nn.functional.relu(out + x)

    lib.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        BasicBlock(64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def cnn_train(lib: Any) -> Step:
    """Small ResNet-style CNN on [32, 3, 32, 32], SGD with momentum."""
    model = _cnn(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((32, 3, 32, 32)), dtype=lib.float32)
    y = lib.tensor(rng.integers(0, 10, 32))

    def step() -> None:
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def cnn_infer(lib: Any) -> Step:
    """The same CNN in eval mode under no_grad."""
    model = _cnn(lib).eval()
    x = lib.tensor(np.random.default_rng(0).standard_normal((32, 3, 32, 32)), dtype=lib.float32)

    def step() -> None:
        with lib.no_grad():
            model(x)

    return step


def _gpt(lib: Any, vocab: int = 65, block: int = 64, n_layer: int = 4, n_head: int = 4,
         n_embd: int = 128) -> Any:
    nn, F = lib.nn, lib.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)

        def forward(self, x: Any) -> Any:
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd)
            self.fc = nn.Linear(n_embd, 4 * n_embd)
            self.proj = nn.Linear(4 * n_embd, n_embd)

        def forward(self, x: Any) -> Any:
            x = x + self.attn(self.ln_1(x))
            return x + self.proj(F.gelu(self.fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.wpe = nn.Embedding(block, n_embd)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying

        def forward(self, idx: Any, targets: Any) -> Any:
            t = idx.size(1)
            x = self.wte(idx) + self.wpe(lib.arange(t))
            for blk in self.blocks:
                x = blk(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    lib.manual_seed(0)
    return GPT()


def gpt_train(lib: Any) -> Step:
    """nanoGPT-style: vocab 65, block 64, 4 layers, 4 heads, 128 embedding, batch 16, AdamW."""
    model = _gpt(lib)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    idx = lib.tensor(rng.integers(0, 65, (16, 64)))
    tgt = lib.tensor(rng.integers(0, 65, (16, 64)))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(idx, tgt).backward()
        opt.step()

    return step


def matmul(lib: Any, n: int) -> tuple[Step, float]:
    """n x n float32 matmul; returns the step and its flop count."""
    rng = np.random.default_rng(0)
    a = lib.tensor(rng.standard_normal((n, n)), dtype=lib.float32)
    b = lib.tensor(rng.standard_normal((n, n)), dtype=lib.float32)
    return (lambda: a @ b), 2.0 * n**3


WORKLOADS: dict[str, Callable[[Any], Step]] = {
    "tiny-op overhead": tiny_ops,
    "MLP train step": mlp_train,
    "CNN train step": cnn_train,
    "nanoGPT-style train step": gpt_train,
    "CNN inference": cnn_infer,
}
_ = math  # (kept for shape arithmetic in future workloads)
