"""The seeds' 2-D model: a latent plane in which the classes separate."""

NAME = "latent_2d"
TITLE = "Test encodings of the 2-D model"
CLAIM = (
    "With two latent dimensions the test encodings, coloured by class, form clusters: "
    "a VAE trained without labels separates most digit classes (the seeds' figures; "
    "Kingma & Welling 2013, Fig. 4). Measured here by the 5-nearest-neighbour accuracy "
    "of the test means against training means (chance: 10%)."
)
MODEL = dict(latent_dims=2, likelihood="bernoulli")
PLOT = "encodings"


def variants(quick: bool) -> list[tuple[str, dict]]:
    return [("latent_2", {})]
