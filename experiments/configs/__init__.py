"""One small module per experiment of experiments/sweep.py.

Each module names the claim it checks (`CLAIM`), the settings its runs share
(`MODEL`, overrides of keras_vae.config.ModelConfig) and its runs
(`variants(quick)`: a list of (run name, ModelConfig overrides)), and the plot that
shows the result (`PLOT`, drawn by experiments/sweep_plots.py).
"""

from . import beta, latent_2d, latent_size, likelihood

EXPERIMENTS = {m.NAME: m for m in (latent_size, beta, likelihood, latent_2d)}
