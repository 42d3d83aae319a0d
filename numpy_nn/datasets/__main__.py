"""``python -m numpy_nn.datasets make-sample SRC OUT``: build the bundled sample
(see :mod:`numpy_nn.datasets.sample`)."""
import sys

from .sample import main

sys.exit(main())
