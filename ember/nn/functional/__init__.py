"""`ember.nn.functional` (torch's `F`): every layer as a function; one file per family."""

from __future__ import annotations

from ember.nn.functional.activation import *  # noqa: F403
from ember.nn.functional.attention import *  # noqa: F403
from ember.nn.functional.conv import *  # noqa: F403
from ember.nn.functional.embedding_bag import *  # noqa: F403
from ember.nn.functional.linear import *  # noqa: F403
from ember.nn.functional.loss import *  # noqa: F403
from ember.nn.functional.normalization import *  # noqa: F403
from ember.nn.functional.pooling import *  # noqa: F403
from ember.nn.functional.sparse import *  # noqa: F403
from ember.nn.functional.vision import *  # noqa: F403
