"""Probes of what scripts touch besides the math (accelerator queries, backend flags, amp,
compile, distributed, tensorboard, onnx, safe_globals, module class paths and names, tied weights,
0-d tensors as Python numbers). Run as a script it prints one JSON line {probe: {value,
warnings}}; the tests run it on ember through the runner and import it under torch, and compare
probe by probe."""

import importlib
import json
import math
import operator
import warnings

import torch
import torch.nn as nn

PROBES = {}


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


def _outcome(fn):
    """fn()'s value (or the exception's type and text) and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn()
        except Exception as e:
            value = {"raised": type(e).__name__, "message": str(e)}
    return {"value": value, "warnings": [[w.category.__name__, str(w.message)] for w in caught]}


@probe
def cuda_queries():
    return [torch.cuda.is_available(), torch.cuda.is_bf16_supported(), torch.cuda.device_count(),
            torch.cuda.is_initialized()]


@probe
def accelerator():
    return [torch.accelerator.is_available(), torch.accelerator.current_accelerator()]


@probe
def mps_available():
    return [torch.backends.mps.is_available(), torch.backends.mps.is_built()]


@probe
def cudnn_benchmark():
    import torch.backends.cudnn as cudnn

    before = [cudnn.benchmark, cudnn.deterministic]
    cudnn.benchmark = True
    cudnn.deterministic = True
    after = [torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic]
    cudnn.benchmark, cudnn.deterministic = before
    return before + after


@probe
def allow_tf32():
    before = [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32]
    torch.backends.cuda.matmul.allow_tf32 = True
    after = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = before[0]
    torch.set_float32_matmul_precision("high")
    return before + [after]


@probe
def cuda_amp_grad_scaler():
    return _outcome(lambda: torch.cuda.amp.GradScaler().is_enabled())


@probe
def cuda_amp_grad_scaler_disabled():
    def run():
        scaler = torch.cuda.amp.GradScaler(enabled=False)
        loss = torch.tensor(2.0, requires_grad=True)
        return [scaler.is_enabled(), scaler.scale(loss) is loss]

    return _outcome(run)


@probe
def amp_grad_scaler():
    return _outcome(lambda: torch.amp.GradScaler().is_enabled())


@probe
def amp_grad_scaler_disabled():
    return _outcome(lambda: torch.amp.GradScaler("cuda", enabled=False).is_enabled())


@probe
def amp_grad_scaler_step_disabled():
    def run():
        w = nn.Parameter(torch.tensor([1.0, 2.0]))
        opt = torch.optim.SGD([w], lr=0.5)
        scaler = torch.amp.GradScaler(enabled=False)
        scaler.scale((w * w).sum()).backward()
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        return w.tolist()

    return _outcome(run)


@probe
def amp_grad_scaler_cpu():
    # enabled on the CPU: the loss is scaled, grads unscaled, an inf gradient skips the step
    def run():
        w = nn.Parameter(torch.tensor([1.0, 2.0]))
        opt = torch.optim.SGD([w], lr=0.125)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
        seen = []
        for bad in [False, True, False]:
            loss = (w * w).sum() * (float("inf") if bad else 1.0)
            scaled = scaler.scale(loss)
            scaled.backward()
            seen.append(scaled.item())
            scaler.unscale_(opt)
            seen.append(w.grad.tolist())
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            seen += [w.tolist(), scaler.get_scale()]
        return [scaler.is_enabled(), seen, scaler.state_dict()]

    return _outcome(run)


@probe
def amp_autocast_cuda():
    def run():
        with torch.amp.autocast(device_type="cuda", dtype=torch.bfloat16):
            return str((torch.ones(2, 2) @ torch.ones(2, 2)).dtype)

    return _outcome(run)


@probe
def autocast_cuda_disabled():
    def run():
        with torch.autocast("cuda", enabled=False):
            return str(torch.ones(2).dtype)

    return _outcome(run)


@probe
def cuda_amp_autocast():
    def run():
        with torch.cuda.amp.autocast():
            return 1

    return _outcome(run)


@probe
def cuda_amp_autocast_disabled():
    return _outcome(lambda: bool(torch.cuda.amp.autocast(enabled=False)))


@probe
def compile_same_outputs():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    compiled = torch.compile(model)
    x = torch.randn(4, 3)
    return [torch.equal(compiled(x), model(x)), callable(torch.compile(mode="reduce-overhead")),
            compiled is model]


@probe
def distributed_imports():
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    return [dist.is_initialized(), DistributedDataParallel.__name__]


@probe
def onnx_export():
    import torch.onnx

    torch.onnx.export(nn.Linear(2, 2), (torch.ones(1, 2),), "model.onnx")


@probe
def summary_writer():
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter("runs/unused") as writer:
        writer.add_scalar("loss", 1.0, 0)
        writer.add_histogram("w", torch.ones(3), 0)
        writer.flush()
    return writer.log_dir


@probe
def finfo_iinfo():
    def info(i):
        return [repr(i)] + [getattr(i, a) for a in ("bits", "max", "min", "dtype")]

    floats = [info(torch.finfo(d)) + [torch.finfo(d).eps, torch.finfo(d).tiny]
              for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64)]
    ints = [info(torch.iinfo(d)) for d in (torch.uint8, torch.int8, torch.int32, torch.int64)]
    errors = [_outcome(lambda: torch.finfo(torch.int64)),
              _outcome(lambda: torch.iinfo(torch.float32))]
    return [repr(torch.finfo()), floats, ints, [e["value"]["raised"] for e in errors]]


@probe
def utils_checkpoint():
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    x = torch.randn(2, 4, requires_grad=True)
    out = checkpoint(block, x, use_reentrant=False)
    out.sum().backward()
    plain = block(x)
    return [torch.equal(out, plain), x.grad.shape == (2, 4)]


@probe
def missing_submodule_is_import_error():
    try:
        import torch.no_such_submodule_xyz  # noqa: F401
    except ImportError as e:
        return [isinstance(e, ModuleNotFoundError), "torch.no_such_submodule_xyz" in str(e)]


@probe
def random_fork_rng():
    import torch.random

    torch.manual_seed(3)
    with torch.random.fork_rng():
        torch.rand(3)
    return torch.rand(2).tolist() == (torch.manual_seed(3), torch.rand(2))[1].tolist()


@probe
def legacy_tensor_types():
    # older scripts: Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor
    from torch.autograd import Variable

    Tensor = torch.FloatTensor
    valid = Variable(Tensor(3, 1).fill_(1.0), requires_grad=False)
    ids = torch.LongTensor([1, 2, 3])
    return [tuple(valid.shape), str(valid.dtype), valid.requires_grad, ids.tolist(), str(ids.dtype),
            tuple(torch.FloatTensor(torch.Size([2, 2])).shape), tuple(torch.FloatTensor().shape),
            isinstance(ids, torch.LongTensor), isinstance(ids, torch.FloatTensor),
            isinstance(ids, Variable), Variable(torch.ones(1), requires_grad=True).requires_grad,
            str(torch.zeros(2).type(torch.LongTensor).dtype),
            str(torch.zeros(2).type("torch.IntTensor").dtype), ids.type(), repr(torch.ByteTensor),
            _outcome(lambda: torch.FloatTensor(ids))["value"]["raised"]]


@probe
def distributions():
    # reinforce.py / actor_critic.py: a policy's action sampled and its log-probability kept
    from torch.distributions import Categorical, Normal

    probs = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    m = Categorical(probs)
    action = m.sample()
    normal = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    return [tuple(action.shape), str(action.dtype), m.log_prob(torch.tensor([1, 0])).tolist(),
            m.entropy().tolist(), normal.log_prob(torch.tensor([0.5, 0.5])).tolist(),
            torch.distributions.kl_divergence(normal, Normal(0.0, 1.0)).tolist()]


@probe
def linalg_special_namespaces():
    # reached as attributes of torch, without importing the submodules
    x = torch.tensor([[3.0, -4.0], [1.0, 2.0]])
    return [torch.linalg.vector_norm(x).item(), torch.linalg.norm(x, dim=1).tolist(),
            torch.linalg.matrix_norm(x, 1).item(), torch.special.expit(x).tolist(),
            torch.special.logit(torch.tensor([0.25])).tolist()]


@probe
def layout_device_anomaly_flags():
    model = nn.Conv2d(1, 2, 3).to(memory_format=torch.channels_last)
    x = torch.ones(1, 1, 4, 4).contiguous(memory_format=torch.channels_last)
    torch.set_default_device("cpu")
    torch.autograd.set_detect_anomaly(True)
    on = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(False)
    with torch.autograd.detect_anomaly():
        inside = torch.is_anomaly_enabled()
    return [tuple(model(x).shape), repr(torch.channels_last), on, inside,
            torch.is_anomaly_enabled()]


@probe
def pad_sequence_collate():
    from torch.nn.utils.rnn import pad_sequence

    batch = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])]
    return [pad_sequence(batch, batch_first=True, padding_value=-1).tolist(),
            tuple(torch.nn.utils.rnn.pad_sequence(batch).shape)]


@probe
def safe_globals():
    class Box:
        pass

    torch.serialization.add_safe_globals([Box])
    added = Box in torch.serialization.get_safe_globals()
    with torch.serialization.safe_globals([Box]) as ctx:
        inside = Box in torch.serialization.get_safe_globals()
    return [added, inside, ctx is None]


# class paths under torch.nn.modules.<file> that programs import from
CLASS_PATHS = {
    "linear": ["Linear", "Identity", "Bilinear"],
    "sparse": ["Embedding", "EmbeddingBag"],
    "rnn": ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase"],
    "dropout": ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"],
    "container": ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"],
    "normalization": ["LayerNorm", "GroupNorm", "RMSNorm"],
    "activation": ["ReLU", "GELU", "SiLU", "Tanh", "Softmax", "LogSoftmax", "MultiheadAttention"],
    "transformer": ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
                    "TransformerDecoder", "Transformer"],
    "batchnorm": ["BatchNorm1d", "BatchNorm2d"],
    "conv": ["Conv1d", "Conv2d", "ConvTranspose2d"],
    "pooling": ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"],
    "loss": ["CrossEntropyLoss", "NLLLoss", "MSELoss"],
    "module": ["Module"],
}


def _class_paths(file):
    def run():
        mod = importlib.import_module(f"torch.nn.modules.{file}")
        return [getattr(mod, name).__name__ for name in CLASS_PATHS[file]]

    return _outcome(run)


for _file in CLASS_PATHS:
    PROBES[f"class_path_{_file}"] = (lambda f: lambda: _class_paths(f))(_file)


@probe
def classname_find_conv():
    # DCGAN's weights_init picks layers by class name
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ConvTranspose2d(2, 1, 3),
                          nn.Linear(2, 2), nn.LeakyReLU(0.2))
    found = []

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            found.append(classname)
        elif classname.find('BatchNorm') != -1:
            found.append(classname)

    model.apply(weights_init)
    return found


@probe
def tied_weights():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(5, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.wte.weight = self.head.weight

    m = Tied()
    return [len(list(m.parameters())), [n for n, _ in m.named_parameters()], list(m.state_dict()),
            m.state_dict()["wte.weight"].data_ptr() == m.state_dict()["head.weight"].data_ptr()]


ZERO_D = ["'%d' % t", "'%.2f' % t", "'%s' % t", "format(t)", "format(t, '.3f')", "f'{i:d}'",
          "f'{i:03d}'", "'{:>6}'.format(i)", "'%x' % i", "hex(i)", "[1, 2, 3, 4][i]", "range(i)",
          "list(range(10))[i:]", "operator.index(i)", "bool(t)", "bool(torch.tensor(0.0))",
          "int(t)", "float(i)", "math.floor(t)", "f'{torch.tensor(True)}'",
          "'%d' % torch.ones(1)", "[1, 2][torch.tensor(1.0)]", "operator.index(torch.tensor(2.0))",
          "bool(torch.ones(2))", "format(torch.ones(2), '.2f')", "'%d' % torch.ones(2)",
          "round(t)"]


@probe
def zero_d_tensors():
    t, i = torch.tensor(2.7), torch.tensor(3)
    env = {"t": t, "i": i, "torch": torch, "math": math, "operator": operator}
    return {expr: _outcome(lambda e=expr: repr(eval(e, env))) for expr in ZERO_D}


@probe
def version():
    v = torch.__version__
    return [v.split("+")[0], v >= "2.0", isinstance(v, str), torch.version.cuda]


def run_all():
    return {name: _outcome(fn) for name, fn in PROBES.items()}


if __name__ == "__main__":
    print(json.dumps(run_all()))
