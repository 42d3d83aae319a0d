"""MNIST for numpy-nn: the IDX format, a loader with a clear fallback order, and the tutorial
preprocessing.

=====================  ===========================================================================
``idx``                :func:`read_idx` / :func:`write_idx`: the IDX format MNIST is published in
``mnist``              :func:`load_mnist` and its fallback order; folder and ``mnist.npz`` checks
``download``           the four official files (names, SHA-256, mirrors); :func:`download_mnist`
``preprocessing``      :func:`scale_pixels`, :func:`standardize`, :func:`one_hot`, :func:`flatten_images`
``sample``             :func:`make_sample`, the bundled sample (``python -m numpy_nn.datasets make-sample``)
``errors``             :class:`DataError`
=====================  ===========================================================================

Where :func:`load_mnist` looks, in order:

1. the ``data_dir`` argument;
2. the ``NUMPY_NN_DATA`` environment variable;
3. the cache folder (``cache_dir``, else ``$XDG_CACHE_HOME/numpy-nn/mnist``, else
   ``~/.cache/numpy-nn/mnist``) if it already holds a complete data set;
4. a download of the four official files into the cache, each checked against its published
   SHA-256 (skipped when ``download=False`` or ``NUMPY_NN_OFFLINE=1``); a mirror is given up
   after ``DOWNLOAD_TIMEOUT`` (10 s) without a byte and after ``DOWNLOAD_DEADLINE`` (120 s) per
   file, and is not asked again; with the three default mirrors, step 5 is reached within
   6 x (120 + 10) s = 13 min at worst, 3 x 130 s = 390 s when every mirror trickles the first
   file, 30 s when they are silent (see :func:`download_mnist`);
5. the bundled stratified sample ``numpy_nn/data/mnist_sample.npz`` (5,000 train / 1,000 test).

An explicit location (1 or 2) that cannot be used raises :class:`DataError` instead of falling
through, so a typo never silently trains on the sample. Every data problem raises
:class:`DataError`, with a one-line message that starts with the path of the file concerned.

This package imports NumPy and the standard library only.
"""
from .download import (
    DOWNLOAD_DEADLINE, DOWNLOAD_TIMEOUT, MAX_DOWNLOAD_BYTES, MNIST_FILES, MNIST_MIRRORS, MNIST_SHA256,
    default_cache_dir, download_mnist,
)
from .errors import DataError
from .idx import read_idx, write_idx
from .mnist import SAMPLE_PATH, MnistSource, load_mnist
from .preprocessing import flatten_images, one_hot, scale_pixels, standardize
from .sample import make_sample

__all__ = [
    "DataError", "MnistSource", "read_idx", "write_idx", "load_mnist", "download_mnist",
    "default_cache_dir", "make_sample", "scale_pixels", "standardize", "one_hot",
    "flatten_images", "MNIST_FILES", "MNIST_SHA256", "MNIST_MIRRORS", "DOWNLOAD_TIMEOUT", "SAMPLE_PATH",
    "DOWNLOAD_DEADLINE", "MAX_DOWNLOAD_BYTES",
]
