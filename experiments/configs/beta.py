"""beta sweep from 0.1 to 8: the beta-VAE trade between reconstruction and KL."""

NAME = "beta"
TITLE = "Reconstruction against KL as beta varies"
CLAIM = (
    "Raising beta buys a simpler latent code (lower KL, fewer active units) with worse "
    "reconstructions; beta < 1 the reverse. The ELBO itself is best near beta = 1, the "
    "value that optimises it (Higgins et al. 2017; Alemi et al. 2018, rate-distortion)."
)
MODEL = dict(latent_dims=10, likelihood="bernoulli")
PLOT = "rate_distortion"


def variants(quick: bool) -> list[tuple[str, dict]]:
    betas = (0.5, 4.0) if quick else (0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
    return [(f"beta_{b:g}", {"beta": b}) for b in betas]
