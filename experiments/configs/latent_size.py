"""Latent-size sweep: Kingma & Welling 2013, Fig. 2 (latent sizes 3, 5, 10, 20, 200)."""

NAME = "latent_size"
TITLE = "ELBO against the size of the latent space"
CLAIM = (
    "A larger latent space gives a better bound, with diminishing returns and no "
    "overfitting up to 200 dimensions, because superfluous dimensions are pruned by the "
    "KL term (Kingma & Welling 2013, Fig. 2 and section 5)."
)
# The paper's MNIST encoder and decoder: one hidden layer of 500 tanh units.
MODEL = dict(hidden_units=(500,), activation="tanh", likelihood="bernoulli")
PLOT = "elbo_curves"


def variants(quick: bool) -> list[tuple[str, dict]]:
    sizes = (3, 20) if quick else (3, 5, 10, 20, 200)
    return [(f"latent_{n}", {"latent_dims": n}) for n in sizes]
