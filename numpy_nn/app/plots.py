"""The figures of ``numpy-nn train``: one function per figure, each writing one PNG.

matplotlib is imported inside the functions (it is in the ``dev`` extra, not a dependency of
numpy_nn), through its object-oriented API with the Agg canvas: no pyplot, no global state, no
display needed. Every PNG is written atomically (a temp file beside it, then ``os.replace``), so an
interrupted run never leaves a half-written figure.

Every ``plot_*`` function draws one figure, writes it to ``path`` as a PNG when a path is given,
and returns the matplotlib ``Figure`` (so tests can look at what was drawn).

The numerical helpers (:func:`pca`, :func:`confusion_matrix`) are plain NumPy and need no matplotlib.
"""
from __future__ import annotations

import numpy as np

from ..fileio import atomic_write

#: Colours of the two frameworks in every overlaid figure.
BACKEND_COLORS = {"numpy": "tab:blue", "tf": "tab:orange"}
BACKEND_LABELS = {"numpy": "numpy_nn", "tf": "TensorFlow"}
RIGHT, WRONG = "tab:green", "tab:red"


# ----------------------------------------------------------------------------------------------
# NumPy helpers
# ----------------------------------------------------------------------------------------------

def pca(x, k=2):
    r"""Principal component analysis by the SVD of the centred data.

    With :math:`X_c = X - \bar{x}` (N, D) and :math:`X_c = U S V^T`, the principal axes are the
    first ``k`` rows of :math:`V^T` (orthonormal, the eigenvectors of the covariance
    :math:`C = X_c^T X_c / (N - 1)`), their variances :math:`s_i^2 / (N - 1)` (C's eigenvalues, in
    decreasing order), and the projection is :math:`X_c V_k`. Each axis's sign is fixed so that its
    largest-magnitude entry is positive (an SVD's signs are arbitrary).

    Returns ``(projection (N, k), components (k, D), explained_variance (k,))``, in float64.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca: need a 2-D array with at least 2 rows, got shape {x.shape}")
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"pca: k must be in 1..{min(x.shape)} for data of shape {x.shape}, got {k}")
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k]
    signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    return centred @ components.T, components, s[:k] ** 2 / (len(x) - 1)


def confusion_matrix(labels, predicted, num_classes=10):
    """``M[i, j]`` = how many images of true class ``i`` were predicted as ``j`` (int64)."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"confusion_matrix: labels {labels.shape} and predictions {predicted.shape} "
                         "must be 1-D of the same length")
    counts = np.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def moving_average(values, window):
    """The mean of each run of ``window`` consecutive values ("valid" part only; the values
    themselves when there are fewer than ``window``)."""
    values = np.asarray(values, np.float64)
    window = max(1, min(int(window), len(values)))
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    return (cumsum[window:] - cumsum[:-window]) / window


# ----------------------------------------------------------------------------------------------
# matplotlib plumbing
# ----------------------------------------------------------------------------------------------

def _figure(width, height, layout="constrained"):
    """A matplotlib Figure on an Agg canvas (imported here: matplotlib is optional). Image grids
    pass ``layout=None`` and place their axes by hand: constrained layout is slow with many axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    """Save ``fig`` to ``path`` (when given) and return it."""
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig, path, dpi=100):
    """Write ``fig`` as a PNG at ``path`` atomically; returns the path."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def _image_grid(fig, n):
    """``n`` axes in a near-square grid, without ticks."""
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    axes = np.atleast_1d(fig.subplots(rows, cols, gridspec_kw=dict(
        left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.1, hspace=0.35))).ravel()
    for ax in axes:
        ax.set_axis_off()
    return axes[:n]


def _as_images(images):
    """(N, 28, 28), (N, 28, 28, 1) or (N, 784) -> (N, 28, 28)."""
    images = np.asarray(images)
    return images.reshape(len(images), 28, 28)


# ----------------------------------------------------------------------------------------------
# The figures
# ----------------------------------------------------------------------------------------------

def plot_digits(images, labels, path=None, n=25):
    """A grid of the first ``n`` digits (grey, white ink on black), each titled with its label:
    what the models are asked to read."""
    images, n = _as_images(images), min(n, len(images))
    fig = _figure(6, 6.4, layout=None)
    for ax, image, label in zip(_image_grid(fig, n), images, labels):
        ax.imshow(image, cmap="gray")
        ax.set_title(str(int(label)), fontsize=10)
    fig.suptitle("MNIST digits and their labels")
    return _finish(fig, path)


def plot_softmax_weights(kernel, path=None):
    """The softmax model's ten weight maps: column ``k`` of the (784, 10) kernel as a 28x28 image.

    Diverging colours on one symmetric scale ``[-m, m]`` (``m`` = the largest |weight|): red pixels
    are evidence *against* digit ``k`` (negative weights), blue pixels evidence *for* it, white no
    opinion. The digits' shapes appear in blue, the pen strokes of rival digits in red.
    """
    kernel = np.asarray(kernel)
    if kernel.shape != (784, 10):
        raise ValueError(f"plot_softmax_weights: expected a (784, 10) kernel, got {kernel.shape}")
    m = float(np.max(np.abs(kernel))) or 1.0
    fig = _figure(11, 2.4, layout=None)
    axes = fig.subplots(1, 10, gridspec_kw=dict(left=0.01, right=0.9, bottom=0.05, top=0.78, wspace=0.08))
    for k, ax in enumerate(axes):
        im = ax.imshow(kernel[:, k].reshape(28, 28), cmap="RdBu", vmin=-m, vmax=m)
        ax.set_title(str(k))
        ax.set_axis_off()
    fig.colorbar(im, cax=fig.add_axes((0.92, 0.15, 0.01, 0.58)), label="weight")
    fig.suptitle("softmax regression: the weight map of each digit (red < 0 < blue)")
    return _finish(fig, path)


def plot_predictions(images, labels, predicted, path=None, n=25, title="predictions"):
    """A grid of test digits titled with the model's prediction: green when it is right, red
    (with the true label in brackets) when it is wrong."""
    images, n = _as_images(images), min(n, len(images))
    fig = _figure(6, 6.6, layout=None)
    for ax, image, label, guess in zip(_image_grid(fig, n), images, labels, predicted):
        right = int(label) == int(guess)
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{int(guess)}" if right else f"{int(guess)} ({int(label)})",
                     color=RIGHT if right else WRONG, fontsize=10)
    fig.suptitle(title)
    return _finish(fig, path)


def plot_curves(curves, path=None, title="training curves"):
    """Training loss and accuracy of each framework against the step, overlaid.

    ``curves`` maps a backend name to ``{"loss": [...], "accuracy": [...]}`` (one value per batch)
    and ``{"epoch_loss": [...], "epoch_accuracy": [...]}`` (one per epoch). Lines: a moving average
    over a tenth of an epoch (numpy_nn solid, TensorFlow dashed); dots: each epoch's mean, drawn at
    the epoch's last step. When both frameworks start from the same weights and see the same
    batches, their lines lie on top of each other.
    """
    fig = _figure(10, 3.8)
    axes = fig.subplots(1, 2)
    for backend, curve in curves.items():
        style = dict(color=BACKEND_COLORS.get(backend), ls="--" if backend == "tf" else "-")
        for ax, key in zip(axes, ("loss", "accuracy")):
            _plot_curve(ax, curve[key], curve[f"epoch_{key}"], BACKEND_LABELS.get(backend, backend), style)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("training step (batch)")
        ax.set_ylabel(f"training {key}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _finish(fig, path)


def _plot_curve(ax, steps, epochs, label, style):
    """One framework's per-step curve (smoothed) and per-epoch means on ``ax``."""
    steps = np.asarray(steps, np.float64)
    per_epoch = max(1, len(steps) // max(len(epochs), 1))
    smooth = moving_average(steps, max(1, per_epoch // 10))
    ax.plot(np.arange(len(smooth)) + len(steps) - len(smooth) + 1, smooth, lw=1, alpha=0.8, label=label, **style)
    ax.plot(np.arange(1, len(epochs) + 1) * per_epoch, epochs, "o", ms=5, color=style["color"])


def plot_confusion(labels, predicted, path=None, title="confusion matrix"):
    """The 10x10 confusion matrix: row = true digit, column = predicted digit, each cell the count
    (the diagonal holds the correct answers, everything else the mistakes)."""
    matrix = confusion_matrix(labels, predicted)
    fig = _figure(6, 5.4)
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2
    for i, j in np.ndindex(matrix.shape):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                color="white" if matrix[i, j] > threshold else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    fig.colorbar(im, ax=ax, label="images")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title} (accuracy {100 * accuracy:.2f}%)")
    return _finish(fig, path)


def plot_probabilities(image, probabilities, label, path=None, title="class probabilities"):
    """One test image beside the model's ten class probabilities (the softmax output) as bars:
    the predicted digit's bar green if it is the true label, red if not; the true digit outlined."""
    probabilities = np.asarray(probabilities, np.float64)
    guess, label = int(np.argmax(probabilities)), int(label)
    fig = _figure(8, 3.2)
    ax_image, ax_bars = fig.subplots(1, 2, width_ratios=[1, 2.4])
    ax_image.imshow(_as_images(np.asarray(image)[None])[0], cmap="gray")
    ax_image.set_axis_off()
    ax_image.set_title(f"true label {label}")
    colors = ["lightgray"] * 10
    colors[guess] = RIGHT if guess == label else WRONG
    bars = ax_bars.bar(range(10), probabilities, color=colors)
    bars[label].set_edgecolor("black")
    bars[label].set_linewidth(1.5)
    ax_bars.set_xticks(range(10))
    ax_bars.set_ylim(0, 1)
    ax_bars.set_xlabel("digit")
    ax_bars.set_ylabel("probability")
    ax_bars.set_title(f"{title}: predicts {guess} ({100 * probabilities[guess]:.1f}%)")
    return _finish(fig, path)


def plot_embedding(pixels, features, labels, path=None, title="2-D PCA embedding of test images"):
    """The "shadow of 784-D space": the test images projected on their first two principal axes
    (:func:`pca`), coloured by digit, as raw pixels (left) and as the trained model's last hidden
    layer sees them (right). Training pulls the digits apart: the right panel's clusters are
    tighter and better separated than the left's."""
    labels = np.asarray(labels)
    fig = _figure(11, 5)
    axes = fig.subplots(1, 2)
    panels = ((pixels, f"raw pixels ({np.shape(pixels)[1]}-D)"),
              (features, f"last hidden layer ({np.shape(features)[1]}-D)"))
    for ax, (data, name) in zip(axes, panels):
        points, _, variance = pca(np.reshape(data, (len(data), -1)), k=2)
        total = max(np.var(np.reshape(data, (len(data), -1)), axis=0, ddof=1).sum(), 1e-300)
        for digit in range(10):
            chosen = labels == digit
            ax.scatter(points[chosen, 0], points[chosen, 1], s=4, alpha=0.6, color=f"C{digit}", label=str(digit))
        ax.set_title(f"{name}: PC1+PC2 = {100 * variance.sum() / total:.0f}% of the variance")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[1].legend(title="digit", markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------------------
# Every figure of a run
# ----------------------------------------------------------------------------------------------

def write_figures(results, data, out):
    """Draw every figure into ``out`` (see the ``plot_*`` functions above for what each shows); returns
    ``{figure: file name}``. The single-framework figures show numpy_nn's model when it ran.

    ``results`` are :class:`numpy_nn.app.results.ModelResult` s, ``data`` the uint8 MNIST of the run,
    ``out`` the output folder (a :class:`pathlib.Path`)."""
    (x_train, y_train), (x_test, _) = data
    written = {}

    def save(key, draw):
        draw(out / f"{key}.png")
        written[key] = f"{key}.png"

    save("digits", lambda p: plot_digits(x_train, y_train, p))
    for r in results:
        run, name = r.primary, r.name
        who = f"{name} ({BACKEND_LABELS[run.backend]})"
        probabilities = r.probabilities()
        predicted = np.argmax(probabilities, axis=1)
        curves = {b: {"loss": rr.step_loss, "accuracy": rr.step_accuracy, "epoch_loss": rr.epoch_loss,
                      "epoch_accuracy": rr.epoch_accuracy} for b, rr in r.runs.items()}
        if name == "softmax":
            save("softmax_weights", lambda p: plot_softmax_weights(run.weights[0], p))
        save(f"{name}_curves", lambda p: plot_curves(curves, p, title=f"{name}: training loss and accuracy"))
        save(f"{name}_predictions", lambda p: plot_predictions(
            x_test, r.test_labels, predicted, p, title=f"{who}: test predictions"))
        save(f"{name}_confusion", lambda p: plot_confusion(r.test_labels, predicted, p, title=who))
        save(f"{name}_probabilities", lambda p: plot_probabilities(
            x_test[0], probabilities[0], r.test_labels[0], p, title=who))
        save(f"{name}_embedding", lambda p: plot_embedding(
            r.embedding_pixels, r.embedding_features, r.embedding_labels, p,
            title=f"{who}: PCA of {len(r.embedding_labels):,} test images, raw pixels vs learned features"))
    return written
