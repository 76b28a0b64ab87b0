"""Bernoulli against Gaussian likelihoods (fixed and learned variance) and the continuous
Bernoulli (Loaiza-Ganem & Cunningham 2019), the normalised density of grey levels."""

NAME = "likelihood"
TITLE = "Samples per likelihood"
CLAIM = (
    "A Bernoulli likelihood suits binary(-ised) pixels; a Gaussian suits grey-scale ones. "
    "With a fixed variance the Gaussian's log-likelihood is a scaled squared error and "
    "sigma acts as a KL weight (small sigma: sharp reconstructions, a weak prior fit); "
    "a learned per-pixel variance fits the data's noise but may shrink it on constant "
    "pixels (Kingma & Welling 2013, appendix C; Lucas et al. 2019). Densities of binary "
    "and continuous data are not comparable numbers: compare pictures, and each "
    "likelihood's bound within its own kind of data."
)
MODEL = dict(latent_dims=10)
PLOT = "samples"


def variants(quick: bool) -> list[tuple[str, dict]]:
    return [
        ("bernoulli", {"likelihood": "bernoulli"}),
        ("gaussian_fixed", {"likelihood": "gaussian", "gaussian_variance": "fixed"}),
        ("gaussian_learned", {"likelihood": "gaussian", "gaussian_variance": "learned"}),
        ("continuous_bernoulli", {"likelihood": "continuous_bernoulli"}),
    ]
