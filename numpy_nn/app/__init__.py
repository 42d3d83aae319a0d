"""The application: CLI, drivers, figures, metrics; the only part of numpy_nn that may import tf_nn
or matplotlib, and only lazily (inside the function that needs them), so that ``import numpy_nn``
still imports NumPy alone."""
