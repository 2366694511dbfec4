"""`python -m ember.compat script.py`: PyTorch programs run unchanged on ember."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

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


def _floats(out: str, pattern: str) -> list[float]:
    """Every number captured by `pattern`'s groups, in the order printed."""
    return [float(x) for m in re.finditer(pattern, out) for x in m.groups()]


def test_mnist_cnn_with_dataloader_workers(tmp_path: Path) -> None:
    # pytorch/examples mnist: Conv2d/MaxPool/Dropout/Linear, log_softmax + nll_loss, Adadelta +
    # StepLR, DataLoader(num_workers=2), torch.save(state_dict)
    ckpt = tmp_path / "mnist_cnn.pt"
    out = run_program("mnist_cnn.py", "--epochs", "2", "--save-model", str(ckpt))
    first, last, correct = _floats(out, r"first_loss (\S+) last_loss (\S+) correct (\d+)")
    assert last < first - 0.2, out
    assert correct > 25, out  # chance is 10 of 100
    assert abs(_floats(out, r"lr (\S+)")[0] - 0.7**2) < 1e-12  # StepLR(gamma=0.7) twice
    # the checkpoint is PyTorch's format: torch itself loads it into the same architecture
    state = torch.load(ckpt, weights_only=True)
    assert list(state) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert tuple(state["conv2.weight"].shape) == (16, 8, 3, 3)


def test_nanogpt_trains_saves_and_resumes(tmp_path: Path) -> None:
    opts = (f"--out_dir={tmp_path}", "--eval_interval=5")
    first = run_program("nanogpt_train.py", *opts, "--max_iters=10")
    assert "using fused AdamW: False" in first and "compiling the model" in first
    losses = _floats(first, r"step \d+: train loss (\S+), val loss \S+")
    assert losses[-1] < losses[0] - 0.3, first
    saved_loss, saved_steps = _floats(first, r"saved fixed loss (\S+) optimizer steps (\d+)")
    last_val = _floats(first, r"step 10: train loss \S+, val loss (\S+)")[0]

    # torch reads the checkpoint dict nanoGPT writes (model, optimizer, model_args, config, ...)
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert ckpt["iter_num"] == 10 and ckpt["model_args"]["n_layer"] == 2
    assert "transformer.wte.weight" in ckpt["model"] and "lm_head.weight" in ckpt["model"]
    assert len(ckpt["optimizer"]["param_groups"]) == 2  # decay / no-decay groups

    second = run_program("nanogpt_train.py", *opts, "--init_from=resume", "--max_iters=15")
    resumed_iter, best = _floats(second, r"resumed at iter (\d+) best_val_loss (\S+)")
    assert resumed_iter == 10 and abs(best - last_val) < 1e-4, (first, second)
    resumed_loss, resumed_steps = _floats(second, r"resumed fixed loss (\S+) optimizer steps (\d+)")
    # the same weights and Adam state the first run saved
    assert resumed_loss == saved_loss and resumed_steps == saved_steps == 10
    more = _floats(second, r"step \d+: train loss (\S+), val loss \S+")
    assert more[-1] < losses[-1], second
    assert "done at iter 16" in second

    # sample.py loads the checkpoint and generates; torch, given the same checkpoint and seed,
    # generates the same text (same weights, same multinomial draws)
    samples = re.findall(r"sample: '(.*)'", run_program("nanogpt_sample.py", opts[0]))
    assert len(samples) == 2 and all(s.startswith("the ") and len(s) == 44 for s in samples)
    assert samples == _torch_nanogpt_samples(tmp_path)


def _torch_nanogpt_samples(out_dir: Path) -> list[str]:
    import pickle

    spec = importlib.util.spec_from_file_location("nanogpt_model_torch",
                                                  os.path.join(PROGRAMS, "nanogpt_model.py"))
    assert spec is not None and spec.loader is not None
    gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpt)
    torch.manual_seed(1337)  # before the model, as sample.py seeds (its init draws too)
    ckpt = torch.load(out_dir / "ckpt.pt", map_location="cpu")
    model = gpt.GPT(gpt.GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    with open(out_dir / "data" / "meta.pkl", "rb") as f:
        meta = pickle.load(f)
    x = torch.tensor([meta["stoi"][c] for c in "the "])[None]
    return ["".join(meta["itos"][i] for i in model.generate(x, 40, 0.8, 10)[0].tolist())
            for _ in range(2)]


@pytest.mark.parametrize("args", [(), ("--model", "GRU", "--tied")])
def test_word_language_model(args: tuple[str, ...], tmp_path: Path) -> None:
    out = run_program("word_lm.py", *args, "--save", str(tmp_path / "lm.pt"))
    first, best = _floats(out, r"first_val_loss (\S+) best_val_loss (\S+)")
    assert best < first - 0.15, out
    assert out.count("| end of epoch") == 6


def test_regression_script() -> None:
    out = run_program("regression.py")
    assert out.strip().endswith("ok")
    first, final = _floats(out, r"initial test MSE (\S+) final test MSE (\S+)")
    assert final < 0.25 * first
    assert "Sequential(" in out and "(0): Linear(in_features=3, out_features=64, bias=True)" in out


# --- the surveyed non-math surface, probe by probe: ember through the runner vs torch itself ---
def _load_survey() -> Any:
    spec = importlib.util.spec_from_file_location("compat_survey", os.path.join(PROGRAMS,
                                                                                "survey.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports the real torch: this process has it
    return module


SURVEY = _load_survey()
# probes where ember differs from torch on purpose, checked against these values instead
EMBER_ONLY = {"version", "compile_same_outputs", "onnx_export", "summary_writer"}


@pytest.fixture(scope="module")
def ember_survey() -> dict[str, Any]:
    return json.loads(run_program("survey.py").splitlines()[-1])


@pytest.fixture(scope="module")
def torch_survey() -> dict[str, Any]:
    # through JSON as ember's answers come; not torch.compile, whose first call takes torch ~10 s
    answers = {name: SURVEY._outcome(fn) for name, fn in SURVEY.PROBES.items()
               if name != "compile_same_outputs"}
    return json.loads(json.dumps(answers))


@pytest.mark.parametrize("name", sorted(set(SURVEY.PROBES) - EMBER_ONLY))
def test_survey_matches_torch(name: str, ember_survey: dict[str, Any],
                              torch_survey: dict[str, Any]) -> None:
    assert ember_survey[name] == torch_survey[name]


def test_survey_version_and_compile(ember_survey: dict[str, Any],
                                    torch_survey: dict[str, Any]) -> None:
    # torch.__version__ is '2.13.0+cpu', ember's '2.13.0+ember': the same release before the '+'
    assert ember_survey["version"] == torch_survey["version"]
    # torch.compile returns an OptimizedModule computing the same outputs (torch warns about
    # torch.jit internals); ember runs eagerly and returns the module itself, without warnings
    assert ember_survey["compile_same_outputs"] == {"value": [True, True, True], "warnings": []}


def test_survey_onnx_and_tensorboard(ember_survey: dict[str, Any]) -> None:
    # torch.onnx imports; exporting needs onnx, which ember does not provide
    export = ember_survey["onnx_export"]["value"]
    assert export["raised"] == "NotImplementedError" and "torch.onnx.export" in export["message"]
    # SummaryWriter is a writer that records nothing (torch needs the tensorboard package)
    assert ember_survey["summary_writer"] == {"value": "runs/unused", "warnings": []}
    assert not os.path.exists(os.path.join(PROGRAMS, "runs"))


def test_module_class_names_equal_torchs() -> None:
    # programs pick initialisations by class name (`classname.find('Conv')`) and print reprs
    import inspect

    import ember

    pairs = [(name, getattr(torch.nn, name), getattr(ember.nn, name)) for name in dir(torch.nn)
             if inspect.isclass(getattr(torch.nn, name))
             and issubclass(getattr(torch.nn, name), torch.nn.Module) and hasattr(ember.nn, name)]
    assert len(pairs) > 100
    for name, tcls, ecls in pairs:
        assert ecls.__name__ == tcls.__name__ == name
    for name in ["Transformer", "TransformerDecoderLayer", "MultiheadAttention", "LSTM",
                 "Embedding", "BatchNorm2d", "ConvTranspose2d", "Dropout2d", "GroupNorm"]:
        assert getattr(ember.nn, name).__name__ == name


def test_spawned_processes_see_ember_as_torch(tmp_path: Path) -> None:
    out = run_program("spawn_workers.py", str(tmp_path))
    # batch sums of i*i over 0..3 and 4..7, twice each (two columns)
    assert "batches [28.0, 252.0]" in out, out
    # mp.spawn's children saved with their torch, which is ember
    assert "spawned [[0, 0, 0], [0, 1, 2]] ember.tensor" in out, out


def test_runner_module_flag() -> None:
    # `python -m ember.compat -m module args`: the module runs as __main__ with torch = ember
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "ember.compat", "-m", "survey"], cwd=PROGRAMS,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout.splitlines()[-1])
    assert answers["cuda_queries"] == {"value": [False, False, 0, False], "warnings": []}


def test_text_classification_tutorial() -> None:
    # EmbeddingBag with offsets built by a collate_fn, SGD + StepLR, clip_grad_norm_
    out = run_program("text_classification.py")
    initial, final = _floats(out, r"initial accuracy\s+(\S+) test accuracy\s+(\S+)")
    assert initial < 0.4 and final > 0.8, out  # four classes: chance is 0.25
    assert out.count("| end of epoch") == 6
