"""Geometry of the latent space as pure numpy functions: paths, traversals, attribute vectors.

These build latent codes; decoding them is `keras_vae.inference`'s job. Every
function returns float32 codes whose last axis is the latent dimension.
"""

import numpy as np


def linear_path(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """Codes [B, steps, L] evenly spaced on the segments from `start` to `end` ([B, L])."""
    _check_steps(steps)
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    start, end = _endpoints(start, end)
    return (start[:, None] + t * (end - start)[:, None]).astype(np.float32)


def spherical_path(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """Codes [B, steps, L] on the great-circle arcs from `start` to `end` (slerp).

    Under an N(0, I) prior in many dimensions, codes concentrate near a sphere of
    radius sqrt(L); the midpoint of a straight line falls inside it, where the decoder
    has seen few codes, while slerp keeps the norm between the endpoints' (White
    2016). Nearly parallel endpoints fall back to the straight line.
    """
    _check_steps(steps)
    start, end = _endpoints(start, end)
    norms = np.linalg.norm(start, axis=-1) * np.linalg.norm(end, axis=-1)
    cosine = np.sum(start * end, axis=-1) / np.maximum(norms, 1e-12)
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))[:, None]  # [B, 1]
    t = np.linspace(0.0, 1.0, steps)[None, :]  # [1, steps]
    sin_omega = np.sin(omega)
    parallel = sin_omega < 1e-6
    safe = np.where(parallel, 1.0, sin_omega)
    w_start = np.where(parallel, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    w_end = np.where(parallel, t, np.sin(t * omega) / safe)
    return (w_start[..., None] * start[:, None] + w_end[..., None] * end[:, None]).astype(
        np.float32
    )


def traversal(base: np.ndarray, dims, values) -> np.ndarray:
    """Codes [len(dims), len(values), L]: `base` ([L]) with dimension dims[i] set to each value.

    Every other coordinate keeps its value in `base`, the beta-VAE way of showing
    what one latent dimension encodes (Higgins et al. 2017).
    """
    base = np.asarray(base, np.float32)
    if base.ndim != 1:
        raise ValueError(f"the base code must be one vector [latent_dims], got shape {base.shape}")
    dims = [int(d) for d in dims]
    for d in dims:
        if not 0 <= d < len(base):
            raise ValueError(f"latent dimension {d} is out of range 0..{len(base) - 1}")
    codes = np.tile(base, (len(dims), len(values), 1))
    for i, d in enumerate(dims):
        codes[i, :, d] = values
    return codes


def attribute_vector(means: np.ndarray, labels: np.ndarray, towards, away_from) -> np.ndarray:
    """Mean code of class `towards` minus mean code of class `away_from`, [L].

    The "smile vector" of latent arithmetic: added to a code of class `away_from`,
    it moves the code towards class `towards`.
    """
    labels = np.asarray(labels)
    if labels.shape != np.shape(means)[:1]:
        raise ValueError(
            f"labels must hold one label per code: {np.shape(means)[0]} codes, "
            f"labels of shape {labels.shape}"
        )
    for label in (towards, away_from):
        if not np.any(labels == label):
            present = ", ".join(str(v) for v in np.unique(labels))
            raise ValueError(f"no examples of class {label} (classes present: {present})")
    means = np.asarray(means, np.float64)
    vector = means[labels == towards].mean(axis=0) - means[labels == away_from].mean(axis=0)
    return vector.astype(np.float32)


def add_attribute(codes: np.ndarray, vector: np.ndarray, strengths) -> np.ndarray:
    """Codes [B, len(strengths), L]: z + a * vector for each code z ([B, L]) and strength a."""
    strengths = np.asarray(strengths, np.float32)
    codes = np.asarray(codes, np.float32)
    # Broadcasting would otherwise add a one-element vector to every coordinate.
    if codes.ndim != 2 or np.shape(vector) != codes.shape[1:]:
        raise ValueError(
            f"codes must be [B, L] and the vector [L], got {codes.shape} and {np.shape(vector)}"
        )
    return codes[:, None] + strengths[None, :, None] * vector


def kl_per_dimension(mean: np.ndarray, log_variance: np.ndarray) -> np.ndarray:
    """Average over examples of KL(q(z_i|x) || N(0, 1)) for each latent dimension i."""
    return np.mean(0.5 * (mean**2 + np.exp(log_variance) - 1.0 - log_variance), axis=0)


def most_informative_dimensions(kl_per_dim: np.ndarray, count: int) -> list[int]:
    """The `count` latent dimensions with the largest average KL, largest first."""
    return [int(d) for d in np.argsort(-np.asarray(kl_per_dim), kind="stable")[:count]]


def principal_components(points: np.ndarray, count: int = 2):
    """Projects points [N, L] onto their first `count` principal components.

    Returns (projected [N, count], explained variance ratio of each component). Each
    component's sign is fixed so that its largest loading is positive, so the picture
    does not flip between runs.
    """
    points = np.asarray(points, np.float64)
    centred = points - points.mean(axis=0)
    # full_matrices: `count` directions even with fewer points than that.
    _, singular, components = np.linalg.svd(centred, full_matrices=True)
    components = components[:count]
    signs = np.sign(components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)])
    components = components * signs[:, None]
    variance = np.zeros(count)
    kept = min(count, len(singular))
    variance[:kept] = singular[:kept] ** 2
    ratio = variance / max(float(np.sum(singular**2)), 1e-300)
    return (centred @ components.T).astype(np.float32), ratio


def _endpoints(start, end) -> tuple[np.ndarray, np.ndarray]:
    """Start and end codes as float64 [B, L] of one shape: broadcasting one code against
    a batch would silently return paths nobody asked for."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    if start.ndim != 2 or start.shape != end.shape:
        raise ValueError(
            f"start and end codes must both be [B, L], got shapes {start.shape} and {end.shape}"
        )
    return start, end


def _check_steps(steps: int) -> None:
    if int(steps) < 2:
        raise ValueError(f"a path needs at least 2 steps (its endpoints), got {steps}")
