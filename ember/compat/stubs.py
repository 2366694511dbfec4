"""The parts of torch that CPU training scripts touch besides the math: accelerator queries
(all False), mixed-precision helpers (disabled no-ops, warning as torch does without CUDA),
`torch.compile` (identity), distributed/tensorboard/onnx placeholders, torch.multiprocessing and
torch.utils.checkpoint; names.py holds the plain torch names (finfo, FloatTensor, ...)."""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable
from typing import Any

from ember.compat.names import (
    _MEMORY_FORMATS,
    Variable,
    _legacy_types,
    _set_default_device,
    detect_anomaly,
    finfo,
    iinfo,
    memory_format,
    set_detect_anomaly,
)


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


EXTRAS: dict[str, dict[str, Any]] = {
    "torch": {
        "compile": compile, "autocast": autocast,
        "set_float32_matmul_precision": _noop, "get_float32_matmul_precision": lambda: "highest",
        "use_deterministic_algorithms": _noop,
        "are_deterministic_algorithms_enabled": lambda: False,
        "set_num_interop_threads": _noop, "finfo": finfo, "iinfo": iinfo,
        **_legacy_types(), **_MEMORY_FORMATS, "memory_format": memory_format,
        "set_default_device": _set_default_device, "get_default_device": lambda: "cpu",
        "is_anomaly_enabled": lambda: set_detect_anomaly._enabled,
    },
    "torch.autograd": {"Variable": Variable, "set_detect_anomaly": set_detect_anomaly,
                       "detect_anomaly": detect_anomaly},
}
