"""Array-in, array-out operations on a trained VAE, for figures and notebooks.

Every function takes a keras_vae VAE, or a handle from `keras_vae.handles` (a
SavedModel loaded with TensorFlow alone), so a notebook gets the same arrays from a
training run and from a deployed model:

    from keras_vae import handles, inference
    model = handles.load_saved_model("runs/vae-.../saved_model")
    frames = inference.interpolate(model, images[:4], images[4:8], steps=9)  # [4, 9, H, W]

Images are float32 [N, H, W] in [0, 1]; decoded images are pixel means E[x|z].
Large inputs are processed in batches so memory stays bounded. Codes come from the
posterior means (no sampling), so results are deterministic; `sample` takes a seed.
Arguments of the wrong shape or range (NaN or out-of-range pixels, num_samples < 1 or
a request above `handles.MAX_OUTPUT_FLOATS` floats) raise ValueError.
"""

import numpy as np

from keras_vae import figures, latent
from keras_vae.handles import MAX_OUTPUT_FLOATS, as_handle

BATCH_SIZE = 1000


def _batched(fn, array: np.ndarray, labels=None) -> np.ndarray:
    """fn over batches of `array` (and of `labels`, passed as fn's `labels`, if given)."""
    parts = []
    for i in range(0, len(array), BATCH_SIZE):
        extra = {} if labels is None else {"labels": labels[i : i + BATCH_SIZE]}
        parts.append(fn(array[i : i + BATCH_SIZE], **extra))
    return np.concatenate(parts)


def _labels(labels):
    return None if labels is None else np.asarray(labels)


def _images(model, images) -> np.ndarray:
    images = np.asarray(images)
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(
            f"images must be [N, {', '.join(map(str, model.image_shape))}], "
            f"got shape {images.shape}"
        )
    unit_interval = getattr(model, "unit_interval", True)
    if not np.issubdtype(images.dtype, np.floating):
        which = "floats in [0, 1]" if unit_interval else "floats"
        raise ValueError(f"images must be {which}, got dtype {images.dtype}")
    if not unit_interval:  # A Gaussian model: any finite value.
        bad = np.count_nonzero(~np.isfinite(images))
        if bad:
            raise ValueError(f"inputs must be finite; {bad} values are not")
        return images.astype(np.float32)
    # A NaN or a 0..255 image would encode to a plausible-looking but meaningless code.
    bad = np.count_nonzero(~((images >= 0) & (images <= 1)))
    if bad:
        raise ValueError(f"images must be finite and in [0, 1]; {bad} pixels are not")
    return images.astype(np.float32)


def encode_means(model, images, labels=None) -> np.ndarray:
    """Posterior means E_q[z|x], [N, latent_dims] (a conditional model: of q(z|x, y))."""
    model = as_handle(model)
    return _batched(lambda x, **y: model.encode(x, **y)[0], _images(model, images), _labels(labels))


def posterior(model, images, labels=None):
    """Posterior means and log-variances of q(z|x), each [N, latent_dims]."""
    model = as_handle(model)
    images, labels = _images(model, images), _labels(labels)
    parts = []
    for i in range(0, len(images), BATCH_SIZE):
        extra = {} if labels is None else {"labels": labels[i : i + BATCH_SIZE]}
        parts.append(model.encode(images[i : i + BATCH_SIZE], **extra))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def decode(model, codes, labels=None) -> np.ndarray:
    """Pixel means for codes [..., latent_dims] (and, conditional, a label per code, of
    the codes' leading shape): images [..., H, W]."""
    model = as_handle(model)
    codes = np.asarray(codes, np.float32)
    if codes.shape[-1] != model.latent_dims:
        raise ValueError(f"codes must end in {model.latent_dims} latent dims, got {codes.shape}")
    flat = codes.reshape(-1, model.latent_dims)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    return _batched(model.decode, flat, labels).reshape(*codes.shape[:-1], *model.image_shape)


def reconstruct(model, images, labels=None) -> np.ndarray:
    """Pixel means decoded from the posterior means, [N, H, W]."""
    return decode(model, encode_means(model, images, labels), labels)


def transfer(model, images, labels, target_labels) -> np.ndarray:
    """A conditional model's analogies (Kingma et al. 2014, Fig. 1): each image encoded
    with its label and decoded with each target label, [N, len(target_labels), H, W]."""
    codes = encode_means(model, images, labels)
    targets = np.asarray(target_labels)
    tiled = np.repeat(codes[:, None], len(targets), axis=1)
    return decode(model, tiled, np.tile(targets, (len(codes), 1)))


def sample(model, num_samples: int, seed: int, labels=None) -> np.ndarray:
    """Pixel means decoded from z ~ p(z) (N(0, I) or the VampPrior), [num_samples, H, W];
    the same for the same seed, from a Keras model or its SavedModel. A conditional model
    takes `labels`, one per sample."""
    model = as_handle(model)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    if int(num_samples) * int(np.prod(model.image_shape)) > MAX_OUTPUT_FLOATS:
        raise ValueError(
            f"num_samples={num_samples} would return more than {MAX_OUTPUT_FLOATS} floats; "
            "split the request into smaller calls"
        )
    return decode(model, model.sample_latents(int(num_samples), int(seed)), labels)


def manifold_codes(model, n: int, dims=(0, 1)) -> np.ndarray:
    """Codes [n*n, L] on `figures.normal_quantile_grid(n)` over `dims`, other coordinates 0."""
    model = as_handle(model)
    codes = np.zeros((n * n, model.latent_dims), np.float32)
    codes[:, list(dims)] = figures.normal_quantile_grid(n)
    return codes


def decode_quantile_grid(model, n: int, dims=(0, 1)) -> np.ndarray:
    """Images [n*n, H, W] decoded over a grid of Normal quantiles of two latent dimensions."""
    return decode(model, manifold_codes(model, n, dims))


def interpolate(model, start_images, end_images, steps: int, method: str = "linear"):
    """Images [B, steps, H, W] decoded along paths between the images' posterior means.

    method: "linear" (straight line) or "spherical" (slerp, see `latent.spherical_path`).
    The first and last frames are the endpoints' reconstructions.
    """
    paths = {"linear": latent.linear_path, "spherical": latent.spherical_path}
    if method not in paths:
        raise ValueError(f"method must be linear or spherical, got {method!r}")
    start, end = encode_means(model, start_images), encode_means(model, end_images)
    if start.shape != end.shape:
        raise ValueError(f"{len(start)} start images but {len(end)} end images")
    return decode(model, paths[method](start, end, steps))


def traverse(model, image, dims, values) -> np.ndarray:
    """Images [len(dims), len(values), H, W]: one latent dimension swept at a time.

    The base code is `image`'s posterior mean ([H, W]), or the prior mean 0 if `image`
    is None.
    """
    model = as_handle(model)
    if image is None:
        base = np.zeros(model.latent_dims, np.float32)
    else:
        base = encode_means(model, np.asarray(image)[None])[0]
    return decode(model, latent.traversal(base, dims, values))


def attribute_vector(model, images, labels, towards, away_from) -> np.ndarray:
    """Mean posterior mean of class `towards` minus that of class `away_from`, [L]."""
    return latent.attribute_vector(encode_means(model, images), labels, towards, away_from)


def add_attribute(model, images, vector, strengths) -> np.ndarray:
    """Images [N, len(strengths), H, W] decoded from z + a * vector, z the images' means.

    Strength 0 gives the reconstructions; see `attribute_vector` for the vector.
    """
    return decode(model, latent.add_attribute(encode_means(model, images), vector, strengths))
