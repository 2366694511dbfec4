"""ember.utils: data loading (ember.utils.data)."""

from __future__ import annotations

from ember.utils import data  # noqa: F401
