"""The parts of torch that CPU training scripts touch besides the math: accelerator queries
(all False), mixed-precision helpers (disabled no-ops, warning as torch does without CUDA),
`torch.compile` (identity), distributed/tensorboard/onnx placeholders."""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable
from typing import Any


def _raiser(name: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{name}: ember runs on the CPU in one process; this needs CUDA or a "
                           "distributed backend")

    fail.__name__ = name.rsplit(".", 1)[-1]
    return fail


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class GradScaler:
    """`torch.amp.GradScaler`. For "cuda" torch disables it with a warning on a machine without
    CUDA; so does ember. For "cpu" it scales as torch does: the loss times `scale`, gradients
    unscaled before the step, a step skipped (and the scale backed off) when a gradient is
    inf/nan, the scale grown after `growth_interval` clean steps."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        if enabled and str(device).startswith("cuda"):
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", UserWarning, stacklevel=2)
            enabled = False
        self._device = str(device)
        self._enabled = enabled
        self._scale = float(init_scale)
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, bool]] = {}  # id(optimizer) -> unscaled, found_inf

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs: Any) -> Any:
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def unscale_(self, optimizer: Any) -> None:
        if not self._enabled:
            return None
        from ember import isfinite, no_grad

        state = self._per_optimizer.setdefault(id(optimizer), {})
        if state.get("unscaled"):
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        found_inf = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(1.0 / self._scale)
                        found_inf = found_inf or not bool(isfinite(p.grad).all())
        state.update(unscaled=True, found_inf=found_inf)
        return None

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if not self._per_optimizer.get(id(optimizer), {}).get("unscaled"):
            self.unscale_(optimizer)
        if self._per_optimizer[id(optimizer)]["found_inf"]:
            return None  # skipped, as torch skips a step with inf/nan gradients
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: Any = None) -> None:
        if not self._enabled:
            return None
        if new_scale is not None:
            self._scale = float(new_scale)
        elif any(s.get("found_inf") for s in self._per_optimizer.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._per_optimizer.clear()
        return None

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def state_dict(self) -> dict[str, Any]:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return None
        if not state_dict:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
        return None


class _CudaGradScaler(GradScaler):
    """`torch.cuda.amp.GradScaler`: torch's deprecated spelling of `torch.amp.GradScaler('cuda')`,
    with its FutureWarning."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cuda', args...)` instead.", FutureWarning,
                      stacklevel=2)
        if enabled:
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", UserWarning, stacklevel=2)
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled=False)


class autocast(contextlib.ContextDecorator):  # noqa: N801 - torch's name
    """`torch.autocast`/`torch.amp.autocast`: ember computes in the tensors' own dtypes, so this
    is a no-op (with torch's warning when CUDA is asked for)."""

    def __init__(self, device_type: str = "cuda", dtype: Any = None, enabled: bool = True,
                 cache_enabled: Any = None) -> None:
        if enabled and str(device_type).startswith("cuda"):
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                          UserWarning, stacklevel=2)
        self.device_type = device_type

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _CudaAutocast(autocast):
    """`torch.cuda.amp.autocast`: the deprecated spelling of `torch.amp.autocast('cuda')`."""

    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> None:
        warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        if enabled:
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                          UserWarning, stacklevel=2)
        super().__init__("cuda", dtype, enabled=False)


def compile(model: Any = None, **kwargs: Any) -> Any:  # noqa: A001 - torch's name
    """`torch.compile`: ember runs eagerly, so compiling returns the model/function unchanged."""
    if model is None:
        return lambda m: m
    return model


class SummaryWriter:
    """`torch.utils.tensorboard.SummaryWriter` that records nothing (ember has no TensorBoard)."""

    def __init__(self, log_dir: Any = None, *args: Any, **kwargs: Any) -> None:
        self.log_dir = log_dir

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith(("add_", "flush", "close")):
            return _noop
        raise AttributeError(name)

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class DistributedDataParallel:
    """Importable placeholder: constructing it needs a distributed backend ember lacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _raiser("torch.nn.parallel.DistributedDataParallel")()


class _Flags(types.SimpleNamespace):
    """Settable backend flags such as torch.backends.cudnn.benchmark."""


def _module(name: str, **attrs: Any) -> types.ModuleType:
    from ember.compat import _Alias

    return _Alias(name, None, attrs)


def modules() -> dict[str, types.ModuleType]:
    """The stub modules, by torch name."""
    cuda_amp = _module("torch.cuda.amp", GradScaler=_CudaGradScaler, autocast=_CudaAutocast)
    cuda = _module(
        "torch.cuda", is_available=lambda: False, device_count=lambda: 0,
        is_bf16_supported=lambda *a, **k: False, manual_seed=_noop, manual_seed_all=_noop,
        synchronize=_noop, empty_cache=_noop, memory_allocated=lambda *a: 0,
        max_memory_allocated=lambda *a: 0, reset_peak_memory_stats=_noop,
        current_device=_raiser("torch.cuda.current_device"),
        set_device=_raiser("torch.cuda.set_device"),
        get_device_name=_raiser("torch.cuda.get_device_name"), is_initialized=lambda: False,
        amp=cuda_amp)
    amp = _module("torch.amp", GradScaler=GradScaler, autocast=autocast)
    cudnn = _module("torch.backends.cudnn", benchmark=False, deterministic=False, enabled=True,
                    allow_tf32=True, is_available=lambda: False, version=lambda: None)
    backends_cuda = _module("torch.backends.cuda", matmul=_Flags(allow_tf32=False,
                            allow_fp16_reduced_precision_reduction=True,
                            allow_bf16_reduced_precision_reduction=True), is_built=lambda: False,
                            enable_flash_sdp=_noop, enable_mem_efficient_sdp=_noop,
                            enable_math_sdp=_noop)
    mps = _module("torch.backends.mps", is_available=lambda: False, is_built=lambda: False)
    backends = _module("torch.backends", cudnn=cudnn, cuda=backends_cuda, mps=mps,
                       mkldnn=_Flags(enabled=True, is_available=lambda: False),
                       opt_einsum=_Flags(enabled=True, is_available=lambda: False))
    accelerator = _module("torch.accelerator", is_available=lambda: False,
                          device_count=lambda: 0, current_accelerator=lambda *a, **k: None)
    dist = _module("torch.distributed", is_available=lambda: False, is_initialized=lambda: False,
                   get_rank=lambda *a, **k: 0, get_world_size=lambda *a, **k: 1,
                   init_process_group=_raiser("torch.distributed.init_process_group"),
                   destroy_process_group=_noop, barrier=_noop,
                   all_reduce=_raiser("torch.distributed.all_reduce"),
                   ReduceOp=_Flags(SUM="sum", AVG="avg", MAX="max", MIN="min"))
    parallel = _module("torch.nn.parallel", DistributedDataParallel=DistributedDataParallel,
                       DataParallel=DistributedDataParallel)
    tensorboard = _module("torch.utils.tensorboard", SummaryWriter=SummaryWriter)
    import multiprocessing

    from ember.compat import _Alias

    torch_mp = _Alias("torch.multiprocessing", multiprocessing, {
        "spawn": _mp_spawn, "start_processes": _mp_spawn,
        "set_sharing_strategy": _set_sharing_strategy,
        "get_sharing_strategy": lambda: _sharing["strategy"],
        "get_all_sharing_strategies": lambda: {"file_descriptor", "file_system"}})
    checkpoint = _module("torch.utils.checkpoint", checkpoint=_checkpoint,
                         checkpoint_sequential=_checkpoint_sequential)
    onnx = _module("torch.onnx", export=_not_implemented("torch.onnx.export"))
    jit = _module("torch.jit", script=lambda f, *a, **k: f, trace=lambda f, *a, **k: f,
                  ignore=lambda f=None, **k: f if f is not None else (lambda g: g),
                  export=lambda f: f, unused=lambda f: f, is_scripting=lambda: False)
    from ember import __version__

    version = _module("torch.version", __version__=__version__, cuda=None, hip=None, xpu=None,
                      debug=False, git_version="ember")
    return {"torch.version": version, "torch.cuda": cuda, "torch.cuda.amp": cuda_amp,
            "torch.amp": amp,
            "torch.backends": backends, "torch.backends.cudnn": cudnn,
            "torch.backends.cuda": backends_cuda, "torch.backends.mps": mps,
            "torch.accelerator": accelerator, "torch.distributed": dist,
            "torch.nn.parallel": parallel, "torch.utils.tensorboard": tensorboard,
            "torch.utils.checkpoint": checkpoint, "torch.multiprocessing": torch_mp,
            "torch.onnx": onnx, "torch.jit": jit}


def _not_implemented(name: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{name} is not supported by ember")

    return fail


class finfo:  # noqa: N801 - torch's name
    """`torch.finfo`: machine limits of a floating dtype (the default dtype when none is given)."""

    def __init__(self, type: Any = None) -> None:
        import math

        import ml_dtypes

        from ember import get_default_dtype

        dtype = get_default_dtype() if type is None else type
        if not dtype.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use "
                            f"torch.iinfo to handle '{dtype.name}'")
        info = ml_dtypes.finfo(dtype.np)
        self.bits: int = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        # torch rounds resolution to a power of ten: 10 ** -floor(-log10(eps))
        self.resolution = 10.0 ** -math.floor(-math.log10(self.eps))
        self.dtype: str = dtype.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801 - torch's name
    """`torch.iinfo`: the limits of an integer dtype."""

    def __init__(self, type: Any) -> None:
        import numpy as np

        if type.is_floating_point or type.is_complex:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo "
                            f"to handle '{type.name}'")
        info = np.iinfo(type.np) if type.name != "bool" else np.iinfo(np.uint8)
        self.bits: int = int(info.bits)
        self.max: int = int(info.max)
        self.min: int = int(info.min)
        self.dtype: str = type.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def _checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: Any = None,
                **kwargs: Any) -> Any:
    """`torch.utils.checkpoint.checkpoint`: recomputation only saves memory, so ember simply
    runs the function (same values and gradients)."""
    for key in ("context_fn", "determinism_check", "debug", "preserve_rng_state"):
        kwargs.pop(key, None)
    return function(*args, **kwargs)


def _checkpoint_sequential(functions: Any, segments: int, input: Any,
                           use_reentrant: Any = None, **kwargs: Any) -> Any:
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for module in modules:
        input = module(input)
    return input


def _mp_spawn(fn: Callable[..., Any], args: tuple[Any, ...] = (), nprocs: int = 1,
              join: bool = True, daemon: bool = False, start_method: str = "spawn") -> Any:
    """`torch.multiprocessing.spawn`: fn(i, *args) in nprocs processes; a failed child raises
    (ProcessExitedException in torch; a RuntimeError naming the process here)."""
    import multiprocessing

    ctx: Any = multiprocessing.get_context(start_method)
    procs = [ctx.Process(target=fn, args=(i, *args), daemon=daemon) for i in range(nprocs)]
    for p in procs:
        p.start()
    if not join:
        return procs
    for i, p in enumerate(procs):
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"torch.multiprocessing.spawn: process {i} terminated with exit "
                               f"code {p.exitcode}")
    return None


_sharing = {"strategy": "file_descriptor"}


def _set_sharing_strategy(strategy: str) -> None:
    _sharing["strategy"] = strategy


class _LegacyTensorType(type):
    """Metaclass of torch.FloatTensor and friends: isinstance() checks a tensor's dtype."""

    dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        from ember import Tensor

        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _legacy_new(cls: Any, *args: Any, device: Any = None) -> Any:
    """torch.FloatTensor(2, 3) (uninitialised, that shape), torch.FloatTensor(torch.Size),
    torch.FloatTensor([1, 2]) (data), torch.FloatTensor() (empty)."""
    import ember

    if len(args) == 1 and isinstance(args[0], ember.Tensor):
        if args[0].dtype != cls.dtype:
            raise TypeError(f"torch.{cls.__name__}(tensor) expected a tensor of dtype "
                            f"{cls.dtype}, got {args[0].dtype}")
        return args[0]
    if len(args) == 1 and not isinstance(args[0], int) and not isinstance(args[0], ember.Size):
        return ember.tensor(args[0], dtype=cls.dtype)
    shape = tuple(args[0]) if len(args) == 1 and isinstance(args[0], ember.Size) else args
    return ember.empty(*shape, dtype=cls.dtype) if shape else ember.empty(0, dtype=cls.dtype)


def _legacy_types() -> dict[str, Any]:
    """torch.FloatTensor, torch.LongTensor, ...: constructors and isinstance() targets."""
    from ember import dtypes

    out = {}
    for d in vars(dtypes).values():
        if isinstance(d, dtypes.dtype) and d._legacy not in out:
            out[d._legacy] = _LegacyTensorType(d._legacy, (), {"dtype": d,
                                                             "__new__": _legacy_new})
    return out


class _VariableType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        from ember import Tensor

        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableType):
    """`torch.autograd.Variable`: since torch 0.4 a Variable is a Tensor; the call returns the
    tensor (with requires_grad set when asked)."""

    def __new__(cls, data: Any, requires_grad: bool = False, volatile: bool = False) -> Any:
        if requires_grad:
            data.requires_grad_(True)
        return data


class memory_format:  # noqa: N801 - torch's name
    """torch.channels_last & co.: ember keeps NumPy's layout, so these are accepted and ignored
    wherever torch takes memory_format=."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_MEMORY_FORMATS = {n: memory_format(n) for n in
                   ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format")}


def _set_default_device(device: Any) -> None:
    """`torch.set_default_device`: only the CPU exists here."""
    if device is not None and not str(device).startswith("cpu"):
        raise RuntimeError(f"torch.set_default_device({str(device)!r}): ember runs on the CPU "
                           "only")


class set_detect_anomaly:  # noqa: N801 - torch's name
    """`torch.autograd.set_detect_anomaly(mode)`: callable or a context manager. ember does not
    trace anomalies; the flag is kept so `is_anomaly_enabled()` answers as set."""

    _enabled = False

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = set_detect_anomaly._enabled
        set_detect_anomaly._enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        set_detect_anomaly._enabled = self.prev


class detect_anomaly(set_detect_anomaly):  # noqa: N801 - torch's name
    """`torch.autograd.detect_anomaly()`: a context manager turning the flag on."""

    def __init__(self, check_nan: bool = True) -> None:
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        super().__init__(True, check_nan)


_threads = {"n": 1}


def _set_num_threads(n: int) -> None:
    _threads["n"] = int(n)


EXTRAS: dict[str, dict[str, Any]] = {
    "torch": {
        "compile": compile, "autocast": autocast,
        "set_float32_matmul_precision": _noop, "get_float32_matmul_precision": lambda: "highest",
        "use_deterministic_algorithms": _noop,
        "are_deterministic_algorithms_enabled": lambda: False,
        "set_num_threads": _set_num_threads, "get_num_threads": lambda: _threads["n"],
        "set_num_interop_threads": _noop, "finfo": finfo, "iinfo": iinfo,
        **_legacy_types(), **_MEMORY_FORMATS, "memory_format": memory_format,
        "set_default_device": _set_default_device, "get_default_device": lambda: "cpu",
        "is_anomaly_enabled": lambda: set_detect_anomaly._enabled,
    },
    "torch.autograd": {"Variable": Variable, "set_detect_anomaly": set_detect_anomaly,
                       "detect_anomaly": detect_anomaly},
}
