"""Matplotlib figures and image grids made from numpy arrays (no TensorFlow here).

The PNG files of the visualize command and of a run's figures/ folder, and the
images that training writes to TensorBoard (rendered to RGB arrays).
"""

import os
import statistics

import matplotlib

matplotlib.use("Agg")  # Files only: runs on machines without a display.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_vae import latent


def is_picture(example_shape) -> bool:
    """Whether examples of this shape are drawn: grey [H, W] or colour [H, W, 3] images."""
    shape = tuple(example_shape)
    return len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)


def image_grid(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Tiles images [N, H, W] (or colour [N, H, W, 3]) row by row into one
    [rows*(H+pad)-pad, cols*(W+pad)-pad] image (with the colour axis, if any).

    Padding is 1.0 (white in a grey-scale colour map with vmax=1): a thin border
    between digits, which are white on black.
    """
    n, h, w = images.shape[:3]
    rows = -(-n // cols)
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad, *images.shape[3:])
    grid = np.ones(shape, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return grid


def normal_quantile_grid(n: int, epsilon: float = 0.05) -> np.ndarray:
    """Latent points [n*n, 2] at the Normal quantiles of an evenly spaced probability grid.

    Points are evenly spaced in probability, so they cover the prior as its mass does
    (Kingma & Welling 2013, Fig. 4). Rows run from high to low z_2 so the figure has
    z_2 increasing upwards.
    """
    probabilities = np.linspace(epsilon, 1 - epsilon, n)
    values = np.array([statistics.NormalDist().inv_cdf(p) for p in probabilities], np.float32)
    z1, z2 = np.meshgrid(values, values[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1)


def _save(fig, path: str) -> None:
    # Written under a temporary name and renamed, so a kill never leaves half a PNG.
    temporary = path + ".partial"
    fig.savefig(temporary, dpi=100, bbox_inches="tight", format=os.path.splitext(path)[1][1:])
    plt.close(fig)
    os.replace(temporary, path)


def _show_grid(ax, grid: np.ndarray) -> None:
    # Colour grids are drawn as RGB (the colour map applies to grey ones only).
    ax.imshow(np.clip(grid, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def reconstruction_rows(inputs: np.ndarray, reconstructions: np.ndarray, cols: int) -> np.ndarray:
    """Interleaves rows of `cols` inputs with the rows of their reconstructions."""
    pairs = []
    for start in range(0, len(inputs), cols):
        pairs += [inputs[start : start + cols], reconstructions[start : start + cols]]
    return np.concatenate(pairs)


def save_reconstructions(
    path: str, inputs: np.ndarray, reconstructions: np.ndarray, cols: int = 10
) -> None:
    """Each row of test inputs is followed by a row of their reconstructions."""
    grid = image_grid(reconstruction_rows(inputs, reconstructions, cols), cols)
    fig, ax = plt.subplots(figsize=(cols * 0.6, len(inputs) // cols * 1.2 + 0.6))
    _show_grid(ax, grid)
    ax.set_title("Test images (odd rows) and their reconstructions (even rows)")
    _save(fig, path)


def save_samples(path: str, images: np.ndarray, cols: int = 10) -> None:
    """A grid of images decoded from z ~ N(0, I)."""
    fig, ax = plt.subplots(figsize=(cols * 0.6, -(-len(images) // cols) * 0.6 + 0.5))
    _show_grid(ax, image_grid(images, cols))
    ax.set_title("Samples: pixel means of p(x|z), z ~ N(0, I)")
    _save(fig, path)


def save_encodings(
    path: str,
    means: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    title: str = "Test-set encodings",
    axis_names: tuple[str, str] = ("z[0] (posterior mean)", "z[1] (posterior mean)"),
) -> None:
    """A scatter plot of 2-D points (latent means or a projection), coloured by class."""
    fig, ax = plt.subplots(figsize=(8, 7))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for label in np.unique(labels):
        points = means[labels == label]
        name = class_names[label] if label < len(class_names) else str(label)
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=3,
            alpha=0.6,
            color=cmap(label % cmap.N),
            label=name,
            rasterized=True,
        )
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    ax.legend(markerscale=5, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    _save(fig, path)


def save_manifold(path: str, images: np.ndarray, n: int, dims=(0, 1), note: str = "") -> None:
    """Images decoded from `normal_quantile_grid(n)` over latent `dims`, laid out on that grid."""
    fig, ax = plt.subplots(figsize=(8, 8))
    _show_grid(ax, image_grid(images, n, pad=0))
    a, b = dims
    ax.set_title(f"Decoded {n}x{n} grid over Normal quantiles of (z[{a}], z[{b}]){note}")
    ax.set_xlabel(f"z[{a}] increases to the right")
    ax.set_ylabel(f"z[{b}] increases upwards")
    _save(fig, path)


def _labelled_rows(ax, frames: np.ndarray, row_names, col_names, title, xlabel, ylabel):
    """Shows frames [rows, cols, H, W(, 3)] as a grid with a name per row and per column."""
    rows, cols, h, w = frames.shape[:4]
    _show_grid(ax, image_grid(frames.reshape(rows * cols, *frames.shape[2:]), cols))
    ax.set_yticks([(h + 1) * r + h / 2 for r in range(rows)])
    ax.set_yticklabels(row_names)
    ax.set_xticks([(w + 1) * c + w / 2 for c in range(cols)])
    ax.set_xticklabels(col_names)
    ax.tick_params(length=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _grid_figure(rows: int, cols: int):
    return plt.subplots(figsize=(cols * 0.7 + 1.6, rows * 0.7 + 1.2))


def save_interpolations(path: str, linear: np.ndarray, spherical: np.ndarray) -> None:
    """Linear and spherical paths [B, steps, H, W] between pairs of test images, a row each."""
    pairs, steps = linear.shape[:2]
    frames = np.stack([linear, spherical], axis=1).reshape(2 * pairs, steps, *linear.shape[2:])
    names = [f"pair {i + 1}, {m}" for i in range(pairs) for m in ("linear", "slerp")]
    fig, ax = _grid_figure(2 * pairs, steps)
    _labelled_rows(
        ax,
        frames,
        names,
        [f"{t:.2g}" for t in np.linspace(0, 1, steps)],
        "Interpolation between posterior means of two test images",
        "position t along the path (0: first image, 1: second)",
        "",
    )
    _save(fig, path)


def save_traversal(path: str, frames: np.ndarray, dims, values, kl=None) -> None:
    """frames [len(dims), len(values), H, W]: each row sweeps one latent dimension."""
    names = [f"z[{d}]" + (f" (KL {kl[d]:.2f})" if kl is not None else "") for d in dims]
    fig, ax = _grid_figure(len(dims), len(values))
    _labelled_rows(
        ax,
        frames,
        names,
        [f"{v:.2g}" for v in values],
        "Latent traversal: one dimension swept, the others fixed at a test image's code",
        "value of the swept dimension",
        "swept dimension (largest KL first)",
    )
    _save(fig, path)


def save_arithmetic(path: str, frames: np.ndarray, strengths, towards: str, away: str) -> None:
    """frames [N, len(strengths), H, W]: test images' codes plus a * (attribute vector)."""
    fig, ax = _grid_figure(len(frames), len(strengths))
    _labelled_rows(
        ax,
        frames,
        [f"image {i + 1}" for i in range(len(frames))],
        [f"{a:+.2g}" for a in strengths],
        f"Latent arithmetic: z + a * (mean z of {towards} - mean z of {away})",
        "strength a (0: the reconstruction)",
        f"test images of class {away}",
    )
    _save(fig, path)


def save_class_samples(path: str, grid: np.ndarray, class_names) -> None:
    """A conditional model's samples: grid [classes, n, H, W], a row per class and a column
    per draw of z, so that each column keeps one style across the classes."""
    rows, cols = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(cols * 0.6 + 1.2, rows * 0.6 + 0.6))
    _labelled_rows(
        ax,
        grid,
        [str(name) for name in class_names[:rows]],
        [""] * cols,
        "Samples per class: each column is one z ~ p(z)",
        "",
        "label y",
    )
    _save(fig, path)


def save_analogies(path: str, images: np.ndarray, frames: np.ndarray, class_names) -> None:
    """A conditional model's analogies (Kingma et al. 2014, Fig. 1): each row a test image
    (first column) encoded with its label and decoded with every label."""
    rows = np.concatenate([images[:, None], frames], axis=1)
    fig, ax = plt.subplots(figsize=(rows.shape[1] * 0.6 + 1.0, len(rows) * 0.6 + 0.8))
    _labelled_rows(
        ax,
        rows,
        [""] * len(rows),
        ["input", *(str(name) for name in class_names[: frames.shape[1]])],
        "Analogies: the style of each input, decoded with every label",
        "decoded with label y",
        "",
    )
    _save(fig, path)


def save_likelihood_panels(path: str, panels) -> None:
    """One row per likelihood: its test images, their reconstructions and prior samples.

    panels: (name, images, reconstructions, samples), each array [n, H, W] in [0, 1].
    """
    fig, axes = plt.subplots(len(panels), 3, figsize=(12, 1.6 * len(panels) + 0.4))
    axes = np.atleast_2d(axes)
    titles = ("test images", "reconstructions (pixel means)", "samples from p(z)")
    for r, (row, (name, *arrays)) in enumerate(zip(axes, panels)):
        for ax, images, title in zip(row, arrays, titles):
            _show_grid(ax, image_grid(images, len(images)))
            if r == 0:
                ax.set_title(title, fontsize="medium")
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize="medium")
    _save(fig, path)


# --- TensorBoard's images of a training run (keras_vae.callbacks.ImageSummaries).

MANIFOLD_SIZE = 15
FIGURE_DPI = 80
ENCODINGS_FIGSIZE = (6.0, 4.5)  # inches: 480x360 px at FIGURE_DPI


def manifold_latents(n: int, kl: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], int]:
    """Latent points to decode for a manifold image: (z, the dimensions varied, columns).

    Two dimensions vary over `normal_quantile_grid(n)`, z[dims[0]] to the right
    and z[dims[1]] upwards: all of them for 2 latent dimensions, else the two with the
    largest average KL `kl` [L], which carry the most information about x, the others 0.
    One latent dimension varies along a single row.
    """
    latent_dims = len(kl)
    grid = normal_quantile_grid(n)
    if latent_dims == 1:
        return grid[:n, :1], (0,), n
    dims = (0, 1) if latent_dims == 2 else tuple(latent.most_informative_dimensions(kl, 2))
    z = np.zeros((n * n, latent_dims), np.float32)
    z[:, dims[0]], z[:, dims[1]] = grid[:, 0], grid[:, 1]
    return z, dims, n


def manifold_description(n: int, dims: tuple[int, ...], latent_dims: int) -> str:
    """What `manifold_latents` decoded, for the summary's description."""
    if latent_dims == 1:
        return f"pixel means decoded at {n} Normal quantiles of z[0], increasing to the right"
    text = (
        f"pixel means decoded over a {n}x{n} grid of Normal quantiles of "
        f"(z[{dims[0]}], z[{dims[1]}]): z[{dims[0]}] increases to the right, "
        f"z[{dims[1]}] upwards"
    )
    if latent_dims > 2:
        text += (
            "; the two dimensions with the largest average KL(q(z_i|x) || N(0, 1)) "
            f"on the test images, the other {latent_dims - 2} held at 0"
        )
    return text


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Renders a matplotlib figure to a uint8 RGB array [height, width, 3]."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def encodings_image(
    means: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]
) -> np.ndarray:
    """A scatter plot of posterior means [N, L] coloured by class, as RGB [H, W, 3].

    Two dimensions are plotted as they are; more are projected onto their first two
    principal components; one is plotted against the label.
    """
    latent_dims = means.shape[1]
    if latent_dims == 1:
        xy = np.stack([means[:, 0], labels], axis=1).astype(np.float32)
        title, axes = "Test-set posterior means", ("z[0] (posterior mean)", "label")
    elif latent_dims == 2:
        xy = means
        title, axes = "Test-set posterior means", ("z[0] (posterior mean)", "z[1] (posterior mean)")
    else:
        xy, _ = latent.principal_components(means)
        title = f"Test-set posterior means ({latent_dims}-D), PCA: first two components"
        axes = ("principal component 1", "principal component 2")
    # Not pyplot: no global figure state, and nothing to close.
    fig = Figure(figsize=ENCODINGS_FIGSIZE, dpi=FIGURE_DPI, layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    for label in np.unique(labels):
        points = xy[labels == label]
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        ax.scatter(
            points[:, 0], points[:, 1], s=6, alpha=0.7, color=cmap(label % cmap.N), label=name
        )
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    fig.legend(loc="outside right upper", title="class", markerscale=2, fontsize="small")
    return figure_to_rgb(fig)
