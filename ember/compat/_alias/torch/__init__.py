"""An alias folder's `torch`: importing it installs ember in torch's place (used by
`python -m ember.compat` for subprocesses through PYTHONPATH)."""

import sys

from ember.compat import install

install()
sys.modules[__name__] = sys.modules["torch"]
