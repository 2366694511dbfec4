"""Neural-network building blocks: Parameter, Module, layers, functional, init, utils."""

from __future__ import annotations

from ember.nn import functional, init, utils  # noqa: F401
from ember.nn.modules import *  # noqa: F403
from ember.nn.parameter import *  # noqa: F403
