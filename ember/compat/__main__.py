"""`python -m ember.compat script.py [args...]`: run a PyTorch script on ember."""

import sys

from ember.compat import run

run(sys.argv[1:])
