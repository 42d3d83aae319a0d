"""``python -m numpy_nn``: the ``numpy-nn`` command line (see :mod:`numpy_nn.app.cli`)."""
import sys

from .app.cli import main

sys.exit(main())
