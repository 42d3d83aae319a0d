"""The tutorial preprocessing: pixels to [0, 1], standardization by the training set, one-hot labels,
flattened images. NumPy only."""
from __future__ import annotations

import numpy as np


def scale_pixels(images, dtype=np.float32):
    r"""Scale raw pixels to [0, 1]: :math:`x' = x / 255`.

    ``images`` must hold integers in 0..255 (e.g. the uint8 arrays of :func:`load_mnist`); float
    input is refused because it is most likely already scaled. Any shape; returns ``dtype``.
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.integer):
        raise ValueError(f"scale_pixels expects integer pixels 0..255, got dtype {images.dtype} "
                         "(already scaled?)")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(f"scale_pixels expects pixels in 0..255, got "
                         f"{images.min()}..{images.max()}")
    return images.astype(dtype) / np.asarray(255, dtype=dtype)


def standardize(train, test=None, eps=1e-7):
    r"""Standardize with the statistics of the TRAINING set only.

    .. math:: \mu = \operatorname{mean}(x_{train}),\quad
              \sigma = \max(\operatorname{std}(x_{train}), \varepsilon),\quad
              x' = (x - \mu) / \sigma

    As in the tutorial MLP, :math:`\mu` and :math:`\sigma` are single scalars over ALL training
    pixels (not per pixel), computed in float64 (population std, ``ddof=0``); the same pair is
    applied to ``test``, so no test information leaks into training. Integer input gives float32,
    float input keeps its dtype.

    Returns
    -------
    train_std, test_std, (mean, std)
        ``test_std`` is None when ``test`` is None; ``mean`` and ``std`` are Python floats, ``std``
        the divisor actually used.
    """
    train = np.asarray(train)
    if train.size == 0:
        raise ValueError("standardize needs a non-empty training set")
    mean = float(np.mean(train, dtype=np.float64))
    std = max(float(np.std(train, dtype=np.float64)), float(eps))

    def apply(x):
        x = np.asarray(x)
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return ((x.astype(np.float64) - mean) / std).astype(out_dtype)

    return apply(train), (None if test is None else apply(test)), (mean, std)


def one_hot(labels, num_classes=10, dtype=np.float32):
    r"""One-hot encode integer labels: :math:`Y_{ik} = [y_i = k]`, shape ``(N, num_classes)``.

    Validated: ``labels`` is 1-D of an integer dtype with values in ``0..num_classes-1``, and
    ``num_classes`` is a positive integer. ``np.argmax(one_hot(y), axis=1)`` gives back ``y``.
    """
    labels = np.asarray(labels)
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"one_hot expects 1-D integer labels, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot labels must be in 0..{num_classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def flatten_images(images):
    """Flatten each image to a row: ``(N, 28, 28)`` (or ``(N, 28, 28, 1)``) -> ``(N, 784)``.

    Row-major, as Keras ``Flatten``; a view when possible. Needs at least 2 dimensions.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"flatten_images expects (N, ...) images, got shape {images.shape}")
    return images.reshape(images.shape[0], -1)
