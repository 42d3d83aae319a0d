"""numpy_nn.app.plots: PCA by SVD against the covariance's eigendecomposition, the confusion matrix,
and every figure function writing a valid PNG (atomically) that shows what its docstring says."""
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.app import plots

matplotlib = pytest.importorskip("matplotlib")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_valid_png(path):
    """A complete PNG: signature, an IHDR with a non-zero size, an IEND, and it decodes."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path}: not a PNG"
    assert data[12:16] == b"IHDR", f"{path}: no IHDR chunk"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    assert data[-8:-4] == b"IEND", f"{path}: truncated (no IEND chunk)"
    from matplotlib import image

    assert image.imread(path).shape[:2] == (height, width)


def no_temp_files(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".") or p.suffix == ".part"]


# ----------------------------------------------------------------------------------------------
# PCA
# ----------------------------------------------------------------------------------------------

@st.composite
def data_matrices(draw):
    n = draw(st.integers(3, 40))
    d = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.1, 10, size=d)  # unequal variances: well-separated eigenvalues, usually
    return rng.normal(size=(n, d)) * scales + rng.normal(size=d) * 5


@given(data_matrices())
def test_pca_components_are_orthonormal(x):
    k = min(x.shape)
    _, components, _ = plots.pca(x, k=k)
    np.testing.assert_allclose(components @ components.T, np.eye(k), atol=1e-10)


@given(data_matrices())
def test_pca_matches_eigendecomposition_of_the_covariance(x):
    k = 2
    projection, components, variance = plots.pca(x, k=k)
    centred = x - x.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(x, rowvar=False))
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    scale = max(eigenvalues[0], 1e-300)
    np.testing.assert_allclose(variance, eigenvalues[:k], atol=1e-9 * scale, rtol=0)
    # Each principal axis spans the same line as the eigenvector (sign is a convention); compare
    # only where the eigenvalue is separated from its neighbour, else the axis is not unique.
    gaps = np.abs(np.diff(eigenvalues))
    for i in range(k):
        gap = min(gaps[i - 1] if i else np.inf, gaps[i] if i < len(gaps) else np.inf)
        if gap > 1e-6 * scale:
            assert abs(abs(components[i] @ eigenvectors[:, i]) - 1) < 1e-6, f"axis {i} differs"
    np.testing.assert_allclose(projection, centred @ components.T, atol=1e-9 * np.abs(centred).max())
    # the projected coordinates are centred and uncorrelated, with the eigenvalues as variances
    np.testing.assert_allclose(np.cov(projection, rowvar=False), np.diag(variance), atol=1e-8 * scale)


def test_pca_fixes_the_sign_of_each_axis():
    x = np.random.default_rng(0).normal(size=(50, 5))
    _, a, _ = plots.pca(x)
    _, b, _ = plots.pca(-x)  # the same axes up to sign, which the convention removes
    np.testing.assert_allclose(a, b, atol=1e-12)
    for row in a:
        assert row[np.argmax(np.abs(row))] > 0


def test_pca_finds_the_direction_of_largest_spread():
    rng = np.random.default_rng(1)
    t = rng.normal(size=200)
    x = np.stack([3 * t, 4 * t], axis=1) + rng.normal(scale=1e-3, size=(200, 2))
    _, components, variance = plots.pca(x, k=1)
    np.testing.assert_allclose(components[0], [0.6, 0.8], atol=1e-4)
    np.testing.assert_allclose(variance[0], 25 * np.var(t, ddof=1), rtol=1e-3)


@pytest.mark.parametrize("x, k", [(np.zeros(5), 1), (np.zeros((1, 3)), 1), (np.zeros((4, 3)), 4), (np.zeros((4, 3)), 0)])
def test_pca_rejects_bad_shapes_and_k(x, k):
    with pytest.raises(ValueError, match="pca"):
        plots.pca(x, k=k)


# ----------------------------------------------------------------------------------------------
# Confusion matrix, moving average
# ----------------------------------------------------------------------------------------------

def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    m = plots.confusion_matrix(labels, predicted, num_classes=3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert m.sum() == len(labels) and np.trace(m) == 4


def test_confusion_matrix_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        plots.confusion_matrix([1, 2], [1])


def test_moving_average():
    np.testing.assert_allclose(plots.moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    np.testing.assert_allclose(plots.moving_average([1, 2], 5), [1.5])
    np.testing.assert_allclose(plots.moving_average([1, 2, 3], 1), [1, 2, 3])


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 10
    return images, labels


def _figure_calls(digits):
    images, labels = digits
    rng = np.random.default_rng(1)
    predicted = labels.copy()
    predicted[::3] = (predicted[::3] + 1) % 10
    probs = rng.dirichlet(np.ones(10))
    steps = {"loss": list(rng.uniform(0.1, 2, 40)), "accuracy": list(rng.uniform(0, 1, 40)),
             "epoch_loss": [1.0, 0.5], "epoch_accuracy": [0.5, 0.8]}
    return {
        "digits": lambda p: plots.plot_digits(images, labels, p),
        "softmax_weights": lambda p: plots.plot_softmax_weights(rng.normal(size=(784, 10)), p),
        "predictions": lambda p: plots.plot_predictions(images, labels, predicted, p),
        "curves": lambda p: plots.plot_curves({"numpy": steps, "tf": steps}, p),
        "confusion": lambda p: plots.plot_confusion(labels, predicted, p),
        "probabilities": lambda p: plots.plot_probabilities(images[0], probs, labels[0], p),
        "embedding": lambda p: plots.plot_embedding(images.reshape(30, -1) / 255.0, rng.normal(size=(30, 16)), labels, p),
    }


@pytest.mark.parametrize("name", ["digits", "softmax_weights", "predictions", "curves", "confusion",
                                  "probabilities", "embedding"])
def test_each_figure_function_writes_a_valid_png(tmp_path, digits, name):
    path = tmp_path / f"{name}.png"
    fig = _figure_calls(digits)[name](path)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_valid_png(path)
    assert no_temp_files(tmp_path) == []


def test_a_failed_save_leaves_no_file_behind(tmp_path, digits, monkeypatch):
    def broken_savefig(self, f, **kwargs):
        f.write(PNG_SIGNATURE + b"half a figure")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="No space"):
        _figure_calls(digits)["digits"](tmp_path / "digits.png")
    assert list(tmp_path.iterdir()) == []


def test_softmax_weight_maps_use_one_symmetric_diverging_scale():
    kernel = np.zeros((784, 10))
    kernel[0, 3], kernel[1, 7] = 0.8, -0.2   # the extremes are not symmetric; the scale must be
    fig = plots.plot_softmax_weights(kernel)
    maps = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(maps) == 10
    for k, im in enumerate(maps):
        assert im.get_clim() == (-0.8, 0.8)
        assert im.get_cmap().name == "RdBu"
        np.testing.assert_array_equal(im.get_array(), kernel[:, k].reshape(28, 28))


def test_softmax_weight_maps_refuse_a_kernel_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(784, 10\)"):
        plots.plot_softmax_weights(np.zeros((10, 784)))


def test_prediction_titles_are_green_when_right_and_red_when_wrong(digits):
    images, labels = digits
    predicted = labels.copy()
    predicted[1] = 9
    fig = plots.plot_predictions(images, labels, predicted, n=4)
    titles = [ax.title for ax in fig.axes[:4]]
    colors = [matplotlib.colors.to_hex(t.get_color()) for t in titles]
    right, wrong = matplotlib.colors.to_hex(plots.RIGHT), matplotlib.colors.to_hex(plots.WRONG)
    assert colors == [right, wrong, right, right]
    assert titles[1].get_text() == "9 (1)"


def test_confusion_figure_shows_the_counts(digits):
    _, labels = digits
    fig = plots.plot_confusion(labels, labels)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.diag(np.bincount(labels, minlength=10)))
    assert "100.00%" in fig.axes[0].get_title()


def test_embedding_plots_the_pca_of_each_representation(digits):
    images, labels = digits
    pixels = images.reshape(30, -1) / 255.0
    features = np.random.default_rng(2).normal(size=(30, 16))
    fig = plots.plot_embedding(pixels, features, labels)
    for ax, data in zip(fig.axes[:2], (pixels, features)):
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        expected = plots.pca(data)[0][np.argsort(labels, kind="stable")]
        np.testing.assert_allclose(points, expected, atol=1e-12)
