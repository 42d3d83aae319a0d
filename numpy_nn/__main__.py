"""``python -m numpy_nn``: the ``numpy-nn`` command line (see :mod:`numpy_nn.cli`)."""
import sys

from .cli import main

sys.exit(main())
