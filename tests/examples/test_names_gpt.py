"""examples/names_gpt.py: the character GPT learns, samples valid names, and the same model code
run with real torch on the same weights gives the same logits, loss, gradients and AdamW steps."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import ember

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "names_gpt.py"


def _load(name: str, source: str | None = None) -> ModuleType:
    """The example is a script, not a package: import it from its path (or from `source`, the
    same text with `ember` replaced by `torch`) once."""
    if name in sys.modules:
        return sys.modules[name]
    mod = ModuleType(name)
    mod.__file__ = str(SCRIPT)
    sys.modules[name] = mod  # dataclasses look their module up while decorating
    try:
        if source is None:
            spec = importlib.util.spec_from_file_location(name, SCRIPT)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        else:
            exec(compile(source, str(SCRIPT), "exec"), mod.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


ng = _load("names_gpt")
ng_torch = _load("names_gpt_torch", SCRIPT.read_text().replace("ember", "torch"))


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """A model this small only contends for cores when threaded (the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any]:
    """The real names, split as the script does; tests train on a few hundred of them."""
    return ng.split_names(ng.load_names(), seed=1337)


def _tiny(train_set: Any, module: ModuleType = ng, **kw: Any) -> Any:
    cfg = module.GPTConfig(block_size=train_set.block_size, vocab_size=train_set.vocab_size,
                           n_layer=kw.get("n_layer", 1), n_head=2, n_embd=kw.get("n_embd", 16))
    return cfg


def test_names_come_from_the_package_files(data: tuple[Any, Any]) -> None:
    words = ng.load_names()
    assert len(words) == len(set(words)) > 5000  # male + female first names, each once
    assert "james" in words and "mary" in words
    assert all(w.isalpha() and w.islower() for w in words)
    train_set, val_set = data
    assert not set(train_set.words) & set(val_set.words)
    assert len(train_set.words) + len(val_set.words) == len(words)
    # rows: x starts with `.` (0), y is x shifted left, with the end token then padding
    name = train_set.words[0]
    x, y = train_set.x[0].tolist(), train_set.y[0].tolist()
    assert x[0] == 0 and train_set.decode(x[1:len(name) + 1]) == name
    assert y[:len(name) + 1] == x[1:len(name) + 1] + [0]
    assert all(t == ng.PAD for t in y[len(name) + 1:])


def test_a_few_steps_lower_the_loss_and_samples_are_valid_names(data: tuple[Any, Any]) -> None:
    train_set, val_set = data
    small = ng.CharDataset(train_set.words[:400], train_set.chars, train_set.block_size)
    ember.manual_seed(0)
    model = ng.GPT(_tiny(small))
    tc = ng.TrainConfig(steps=60, batch_size=32, learning_rate=1e-2, min_lr=1e-3,
                        warmup_steps=5, eval_interval=60)
    history = ng.train(model, small, val_set, tc, log=False)
    (s0, tr0, va0), (s1, tr1, va1) = history
    assert (s0, s1) == (0, 60)
    assert abs(tr0 - np.log(small.vocab_size)) < 0.1  # small init: near-uniform predictions
    assert tr1 < tr0 - 0.5 and va1 < va0 - 0.5
    # beats a model that ignores the context (character frequencies alone)
    assert va1 < ng.unigram_loss(small, val_set)

    ember.manual_seed(7)
    names = ng.sample_names(model, small, 16, temperature=0.8, top_k=10)
    assert len(names) == 16
    assert all(set(n) <= set(small.chars) and len(n) < small.block_size for n in names)
    assert sum(len(n) >= 2 for n in names) >= 12  # mostly real-looking names, not empty strings
    ember.manual_seed(7)  # sampling draws from ember's RNG: the same seed, the same names
    assert ng.sample_names(model, small, 16, temperature=0.8, top_k=10) == names
    # top_k=1 is greedy: every row is the same name
    assert len(set(ng.sample_names(model, small, 4, top_k=1))) == 1


def _to_torch(model: Any, train_set: Any) -> Any:
    """A torch GPT built by the same code, with the ember model's weights (state_dict -> NumPy)."""
    torch.manual_seed(0)
    twin = ng_torch.GPT(_tiny(train_set, ng_torch, n_layer=2, n_embd=32))
    state = {k: torch.from_numpy(v.detach().numpy().copy()) for k, v in model.state_dict().items()}
    twin.load_state_dict(state)
    return twin


def test_the_same_model_code_on_torch_gives_the_same_numbers(data: tuple[Any, Any]) -> None:
    train_set, _ = data
    ember.manual_seed(3)
    model = ng.GPT(_tiny(train_set, n_layer=2, n_embd=32))
    twin = _to_torch(model, train_set)
    # weight tying: one Parameter, two state_dict keys, counted once, in both libraries
    assert model.lm_head.weight is model.transformer.wte.weight
    assert twin.lm_head.weight is twin.transformer.wte.weight
    assert "lm_head.weight" in model.state_dict() and "transformer.wte.weight" in model.state_dict()
    assert model.get_num_params() == twin.get_num_params()
    assert len(list(model.parameters())) == len(list(twin.parameters()))

    opt = model.configure_optimizers(0.1, 3e-3, (0.9, 0.99))
    topt = twin.configure_optimizers(0.1, 3e-3, (0.9, 0.99))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in opt.param_groups] == \
        [len(g["params"]) for g in topt.param_groups]
    x, y = train_set.x[:48], train_set.y[:48]
    tx, ty = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())
    for step in range(3):  # forward, backward, clip and AdamW step agree each time
        logits, loss = model(x, y)
        tlogits, tloss = twin(tx, ty)
        np.testing.assert_allclose(logits.detach().numpy(), tlogits.detach().numpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=f"logits, step {step}")
        assert abs(loss.item() - tloss.item()) < 1e-5, (step, loss.item(), tloss.item())
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        for (n, p), (tn, tp) in zip(model.named_parameters(), twin.named_parameters()):
            assert n == tn
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-3, atol=1e-6,
                                       err_msg=f"grad of {n}, step {step}")
        norm = ember.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
        tnorm = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.05)
        assert abs(norm.item() - tnorm.item()) < 1e-4 * tnorm.item()
        opt.step()
        topt.step()
    for (n, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"{n} after 3 AdamW steps")


def test_the_script_on_torch_follows_the_same_curve_and_samples(data: tuple[Any, Any]) -> None:
    """ember's RNG draws torch's numbers (init, batches, multinomial): from the same seed the
    whole program, run with `ember` replaced by `torch`, gives the same losses and names."""
    words, chars, bs = data[0].words[:300], data[0].chars, data[0].block_size
    val_words = data[1].words[:100]
    runs = []
    for lib, mod in ((ember, ng), (torch, ng_torch)):
        train_set = mod.CharDataset(words, chars, bs)
        val_set = mod.CharDataset(val_words, chars, bs)
        lib.manual_seed(11)
        model = mod.GPT(_tiny(train_set, mod))
        tc = mod.TrainConfig(steps=20, batch_size=16, learning_rate=1e-2, warmup_steps=3,
                             eval_interval=10)
        history = mod.train(model, train_set, val_set, tc, log=False)
        runs.append((history, mod.sample_names(model, train_set, 8, 0.9, top_k=5)))
    (ours, our_names), (theirs, their_names) = runs
    assert [s for s, _, _ in ours] == [s for s, _, _ in theirs] == [0, 10, 20]
    np.testing.assert_allclose([h[1:] for h in ours], [h[1:] for h in theirs], atol=2e-4)
    assert our_names == their_names
