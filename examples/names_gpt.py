"""A character-level GPT (nanoGPT's model) trained on first names, written with ember as torch.

Data: the first names that ship in the `names` package (its `dist.male.first` and
`dist.female.first` files, read from the installed package, no download), lower-cased and
de-duplicated, split 90/10 into train/validation. Each name is one sequence: a `.` token starts
and ends it (makemore's convention), shorter names are padded and their padding ignored by the
loss. The model is nanoGPT's `model.py` shrunk: token + position Embedding, pre-LayerNorm blocks
of causal self-attention and a GELU MLP, the output head tied to the token embedding, AdamW with
weight decay only on matrices (nanoGPT's `configure_optimizers`) and a warmup + cosine schedule.
It prints the model size and the train/val loss every `--eval-interval` steps, then samples new
names with `--temperature` and `--top-k` from ember's seeded RNG.

    .venv/bin/python examples/names_gpt.py [--steps 2000] [--temperature 0.8] [--top-k 10]

The model code uses only torch's API: replacing `ember` by `torch` in this file gives a torch
program (the tests compare the two on the same weights).
"""

from __future__ import annotations

import argparse
import importlib.resources
import inspect
import math
import time
from dataclasses import dataclass
from typing import Any

import ember as torch
import ember.nn as nn
from ember.nn import functional as F

PAD = -1  # target for positions after a name's end: ignored by cross_entropy


# ---- data --------------------------------------------------------------------------------------
def load_names() -> list[str]:
    """The package's male and female first names, lower-cased, each once, in file order.

    A line reads `JAMES          3.318  3.318      1`: the name, then frequency columns.
    """
    root = importlib.resources.files("names")
    seen: dict[str, None] = {}
    for fname in ("dist.male.first", "dist.female.first"):
        for line in (root / fname).read_text().splitlines():
            if line.strip():
                seen[line.split()[0].lower()] = None
    return list(seen)


class CharDataset:
    """Names as fixed-length token rows. Token 0 is `.` (start and end), 1.. the letters.

    For a name of length n: x = [0, c1..cn, 0, 0..] and y = [c1..cn, 0, PAD, PAD..], both of
    length block_size = longest name + 1, so position t predicts character t+1 (or the end).
    """

    def __init__(self, words: list[str], chars: list[str], block_size: int) -> None:
        self.words = words
        self.chars = chars
        self.block_size = block_size
        self.stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        self.itos = {i: s for s, i in self.stoi.items()} | {0: "."}
        rows_x, rows_y = [], []
        for w in words:
            ix = [self.stoi[c] for c in w]
            pad = block_size - len(ix) - 1
            rows_x.append([0] + ix + [0] * pad)
            rows_y.append(ix + [0] + [PAD] * pad)
        self.x = torch.tensor(rows_x, dtype=torch.long)  # (N, T)
        self.y = torch.tensor(rows_y, dtype=torch.long)  # (N, T)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def decode(self, ix: list[int]) -> str:
        return "".join(self.itos[i] for i in ix)


def split_names(words: list[str], val_fraction: float = 0.1,
                seed: int = 1337) -> tuple[CharDataset, CharDataset]:
    """A seeded random train/val split; both share the vocabulary and the block size."""
    chars = sorted(set("".join(words)))
    block_size = max(len(w) for w in words) + 1
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(words), generator=g).tolist()
    n_val = max(1, int(len(words) * val_fraction))
    val = [words[i] for i in perm[:n_val]]
    train = [words[i] for i in perm[n_val:]]
    return CharDataset(train, chars, block_size), CharDataset(val, chars, block_size)


def unigram_loss(train: CharDataset, data: CharDataset) -> float:
    """Cross-entropy (nats/char) on `data` of the train set's character frequencies: the loss of a
    model that ignores the context. The transformer has to beat it clearly."""
    counts = torch.ones(train.vocab_size, dtype=torch.float64)  # add-one smoothing
    counts.index_add_(0, train.y[train.y != PAD], torch.ones(int((train.y != PAD).sum().item()),
                                                              dtype=torch.float64))
    logp = (counts / counts.sum()).log()
    targets = data.y[data.y != PAD]
    return -logp[targets].mean().item()


# ---- model (nanoGPT's model.py, small) ---------------------------------------------------------
@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 27
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: Any) -> Any:
        B, T, C = x.size()  # batch, sequence length, embedding dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hs = C // self.n_head
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        # (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T) -> softmax -> x (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Any) -> Any:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Any) -> Any:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: the head scores a token by its embedding (one Parameter, two names)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counting the tied weight once; without the position embedding by default."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: Any, targets: Any = None) -> tuple[Any, Any]:
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of {t} > block_size {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long)  # (t,)
        tok_emb = self.transformer.wte(idx)  # (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # (b, t, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                   ignore_index=PAD)
        return logits, loss

    def configure_optimizers(self, weight_decay: float, learning_rate: float,
                             betas: tuple[float, float]) -> Any:
        """AdamW with decay on every 2-D tensor (matmul weights, embeddings) and none on biases
        and LayerNorm parameters, as nanoGPT."""
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        num_decay = sum(p.numel() for p in decay_params)
        num_nodecay = sum(p.numel() for p in nodecay_params)
        print(f"num decayed parameter tensors: {len(decay_params)}, with {num_decay:,} parameters")
        print(f"num non-decayed parameter tensors: {len(nodecay_params)}, "
              f"with {num_nodecay:,} parameters")
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        extra = {"fused": False} if fused_available else {}  # CPU only: the plain loop
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra)

    @torch.no_grad()
    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None) -> Any:
        """Extend each row of idx (b, t) by max_new_tokens sampled tokens: (b, t + max_new)."""
        for _ in range(max_new_tokens):
            bs = self.config.block_size  # crop the context to the last block_size tokens
            idx_cond = idx if idx.size(1) <= bs else idx[:, -bs:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature  # (b, vocab_size): the next token's scores
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)  # (b, 1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# ---- training ----------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    seed: int = 1337


def get_lr(step: int, tc: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr at the last step (nanoGPT's get_lr)."""
    if step < tc.warmup_steps:
        return tc.learning_rate * (step + 1) / (tc.warmup_steps + 1)
    ratio = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(1.0, ratio)))
    return tc.min_lr + coeff * (tc.learning_rate - tc.min_lr)


@torch.no_grad()
def evaluate(model: GPT, data: CharDataset, batch_size: int = 1024) -> float:
    """Mean loss per predicted character over the whole set (padding excluded)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(data.words), batch_size):
        x, y = data.x[i:i + batch_size], data.y[i:i + batch_size]
        _, loss = model(x, y)
        n = int((y != PAD).sum().item())
        total += loss.item() * n
        count += n
    model.train()
    return total / count


def train(model: GPT, train_set: CharDataset, val_set: CharDataset, tc: TrainConfig,
          log: bool = True) -> list[tuple[int, float, float]]:
    """Train with random batches drawn from ember's RNG; returns (step, train loss, val loss) at
    every evaluation (the first before any update, the last after the final step)."""
    optimizer = model.configure_optimizers(tc.weight_decay, tc.learning_rate, (0.9, tc.beta2))
    history = []
    t0 = time.perf_counter()
    for step in range(tc.steps + 1):
        if step % tc.eval_interval == 0 or step == tc.steps:
            tr, va = evaluate(model, train_set), evaluate(model, val_set)
            history.append((step, tr, va))
            if log:
                print(f"step {step:5d}: train loss {tr:.4f}, val loss {va:.4f} "
                      f"({time.perf_counter() - t0:.1f}s)", flush=True)
        if step == tc.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = get_lr(step, tc)
        ix = torch.randint(len(train_set.words), (tc.batch_size,))
        _, loss = model(train_set.x[ix], train_set.y[ix])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
    return history


def sample_names(model: GPT, data: CharDataset, num: int, temperature: float = 1.0,
                 top_k: int | None = None) -> list[str]:
    """num names sampled after the start token, each cut at its end token."""
    model.eval()
    start = torch.zeros((num, 1), dtype=torch.long)  # (num, 1): every row starts with `.`
    out = model.generate(start, data.block_size - 1, temperature=temperature, top_k=top_k)
    model.train()
    names = []
    for row in out[:, 1:].tolist():
        ix = row[:row.index(0)] if 0 in row else row
        names.append(data.decode(ix))
    return names


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    p.add_argument("--eval-interval", type=int, default=TrainConfig.eval_interval)
    p.add_argument("--n-layer", type=int, default=GPTConfig.n_layer)
    p.add_argument("--n-head", type=int, default=GPTConfig.n_head)
    p.add_argument("--n-embd", type=int, default=GPTConfig.n_embd)
    p.add_argument("--dropout", type=float, default=GPTConfig.dropout)
    p.add_argument("--num-samples", type=int, default=20)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (a model this small runs fastest on one)")
    args = p.parse_args(argv)
    if args.temperature <= 0:
        p.error(f"--temperature must be > 0 (logits are divided by it), got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        p.error(f"--top-k must be >= 1, got {args.top_k}")
    try:  # torch.set_num_threads for NumPy's BLAS, when threadpoolctl is installed
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=args.threads)
    except ImportError:
        pass

    torch.manual_seed(args.seed)
    words = load_names()
    train_set, val_set = split_names(words, seed=args.seed)
    print(f"{len(words)} names ({len(train_set.words)} train, {len(val_set.words)} val), "
          f"vocabulary {train_set.vocab_size} ('.' + {''.join(train_set.chars)}), "
          f"block size {train_set.block_size}")
    print(f"baselines (val loss, nats/char): uniform {math.log(train_set.vocab_size):.4f}, "
          f"unigram {unigram_loss(train_set, val_set):.4f}")
    config = GPTConfig(block_size=train_set.block_size, vocab_size=train_set.vocab_size,
                       n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                       dropout=args.dropout)
    model = GPT(config)
    print(f"number of parameters: {model.get_num_params() / 1e3:.1f}K "
          f"({model.get_num_params(non_embedding=False):,} with position embeddings)")
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                     min_lr=args.lr / 10, eval_interval=args.eval_interval, seed=args.seed)
    t0 = time.perf_counter()
    history = train(model, train_set, val_set, tc)
    print(f"trained {tc.steps} steps in {time.perf_counter() - t0:.1f}s: final train loss "
          f"{history[-1][1]:.4f}, val loss {history[-1][2]:.4f}")
    known = set(words)
    print(f"{args.num_samples} samples (temperature {args.temperature}, top_k {args.top_k}):")
    samples = sample_names(model, train_set, args.num_samples, args.temperature, args.top_k)
    for name in samples:
        print(f"  {name:<14s} {'(in the data)' if name in known else '(new)'}")
    print(f"{sum(n not in known for n in samples)}/{len(samples)} samples are new names")


if __name__ == "__main__":
    main()
