"""Array-in, array-out operations on a trained VAE, for figures and notebooks.

All functions take float32 images [N, H, W] in [0, 1] and return numpy arrays;
large inputs are processed in batches so memory stays bounded.
"""

import numpy as np
from keras import ops

from keras_vae import figures


def _batched(fn, array: np.ndarray, batch_size: int) -> np.ndarray:
    parts = [
        ops.convert_to_numpy(fn(array[i : i + batch_size]))
        for i in range(0, len(array), batch_size)
    ]
    return np.concatenate(parts)


def encode_means(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Posterior means E_q[z|x], [N, latent_dims]."""
    return _batched(lambda x: model.encode(x)[0], images.astype(np.float32), batch_size)


def reconstruct(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Pixel means decoded from the posterior means, [N, H, W]."""
    return _batched(
        lambda x: model.decode_images(model.encode(x)[0]), images.astype(np.float32), batch_size
    )


def sample(model, num_samples: int, seed: int) -> np.ndarray:
    """Pixel means decoded from z ~ N(0, I), [num_samples, H, W]; the same for the same seed."""
    z = np.random.default_rng(seed).standard_normal((num_samples, model.latent_dims))
    return ops.convert_to_numpy(model.decode_images(z.astype(np.float32)))


def decode_quantile_grid(model, n: int) -> np.ndarray:
    """Images [n*n, H, W] decoded over `figures.normal_quantile_grid(n)` (2-D latents only)."""
    if model.latent_dims != 2:
        raise ValueError(
            f"a quantile grid needs 2 latent dimensions, the model has {model.latent_dims}"
        )
    return ops.convert_to_numpy(model.decode_images(figures.normal_quantile_grid(n)))
