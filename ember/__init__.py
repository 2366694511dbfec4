"""ember: a PyTorch-compatible deep-learning framework on NumPy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ember import dtypes as _dtypes
from ember._malloc import tune_malloc as _tune_malloc

_tune_malloc()  # keep freed array memory for the next step (see ember/_malloc.py)
from ember._blas import tune_blas_threads as _tune_blas_threads

_tune_blas_threads()  # OpenBLAS's idle workers sleep instead of spinning (ember/_blas.py)
from ember._parallel import get_num_threads, set_num_threads  # noqa: F401
from ember.autograd import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: F401
from ember.autograd.grad_mode import is_grad_enabled, is_inference_mode_enabled  # noqa: F401
from ember.dtypes import (  # noqa: F401
    bfloat16, dtype, float16, float32, float64, get_default_dtype, int8, int16, int32, int64,
    promote_types, set_default_dtype, uint8,
)
from ember.ops.creation import *  # noqa: F403  (each family's __all__, for type checkers too)
from ember.ops.elementwise import *  # noqa: F403
from ember.ops.indexing import *  # noqa: F403
from ember.ops.linalg import *  # noqa: F403
from ember.ops.movement import *  # noqa: F403
from ember.ops.reduce import *  # noqa: F403
from ember.random import *  # noqa: F403
from ember._tensor_str import set_printoptions  # noqa: F401
from ember.size import Size, device  # noqa: F401
from ember.tensor import Tensor  # noqa: F401

from ember import autograd  # noqa: E402, F401
from ember.tensor import _bind_methods

_bind_methods()
del _bind_methods

if TYPE_CHECKING:
    from ember import nn, optim, utils  # noqa: F401
    from ember.serialization import load, save  # noqa: F401

# nn, optim, utils and save/load are imported on first use (`ember.nn`, `import ember.nn`,
# `from ember import nn`): they are about half of `import ember`, and a script may need none.
_LAZY = {"nn": "ember.nn", "optim": "ember.optim", "utils": "ember.utils",
         "load": "ember.serialization", "save": "ember.serialization"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if module.__name__ == f"ember.{name}" else getattr(module, name)
    raise AttributeError(f"module 'ember' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "2.13.0+ember"

# torch's dtype aliases
bool: _dtypes.dtype = _dtypes.bool_
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

# torch's top-level in-place functions (torch.relu_(x) is x.relu_()) and is_inference
_TOP_LEVEL_METHODS = """
abs_ acos_ arccos_ arcsin_ arctan_ asin_ atan_ ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_
cosh_ erf_ erfc_ exp2_ exp_ expm1_ fill_ fix_ floor_ frac_ index_put_ log10_ log1p_ log2_ log_
nan_to_num_ neg_ negative_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ sinh_ sqrt_ square_ tan_
tanh_ trunc_ xlogy_ zero_ is_inference
""".split()


def _calls_method(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Matches `torch.{name}`: `input.{name}(...)`."
    return fn


for _name in _TOP_LEVEL_METHODS:
    globals()[_name] = _calls_method(_name)
del _name
