"""ember: a PyTorch-compatible deep-learning framework on NumPy."""

from __future__ import annotations

from ember import dtypes as _dtypes
from ember import ops as _ops
from ember.autograd import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: F401
from ember.autograd.grad_mode import is_grad_enabled, is_inference_mode_enabled  # noqa: F401
from ember.dtypes import (  # noqa: F401
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from ember.ops import *  # noqa: F401, F403
from ember.random import (  # noqa: F401
    Generator,
    default_generator,
    initial_seed,
    manual_seed,
    rand,
    randn,
    seed,
)
from ember.size import Size, device  # noqa: F401
from ember.tensor import Tensor  # noqa: F401

__version__ = "2.13.0+ember"

bool: _dtypes.dtype = _dtypes.bool_  # torch's names
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
uint8 = uint8

# torch's functional names that live in ember.ops (e.g. ember.exp, ember.cat)
globals().update({k: v for k, v in vars(_ops).items() if not k.startswith("_") and callable(v)
                  and k not in ("Tensor", "annotations", "Any")})

