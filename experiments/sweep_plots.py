"""The figures of experiments/sweep.py, one kind per experiment (its config's PLOT)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae import figures  # noqa: E402


def _save(fig, path, top=1.0):
    # `top` < 1 leaves room for a suptitle, which tight_layout does not know of.
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def elbo_curves(path, rows, dataset):
    """Kingma & Welling's Fig. 2: the bound against training examples seen, per latent
    size (train solid, validation dashed), and the final test ELBO and NLL."""
    fig, (curves, final) = plt.subplots(1, 2, figsize=(12, 4.8))
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(rows):
        color = cmap(i / max(1, len(rows) - 1))
        seen = np.array(r["history"]["examples_seen"])
        curves.plot(seen, r["history"]["elbo"], ".-", color=color, label=r["name"])
        curves.plot(seen, r["history"]["val_elbo"], ".--", color=color)
    curves.set_xscale("log")
    curves.set_xlabel("training examples seen")
    curves.set_ylabel("ELBO (nats)")
    curves.set_title(f"ELBO during training ({dataset}); dashed: validation")
    curves.legend(fontsize="small")
    sizes = [r["hparams"]["latent_dims"] for r in rows]
    final.plot(sizes, [r["test_elbo"] for r in rows], "o-", label="test ELBO")
    final.plot(sizes, [-r["test_nll"] for r in rows], "s-", label="test log p(x) (IW bound)")
    final.set_xscale("log")
    final.minorticks_off()
    final.set_xticks(sizes, [str(s) for s in sizes])
    final.set_xlabel("latent dimensions")
    final.set_ylabel("nats per image")
    final.set_title(f"Final test bounds, k = {rows[0]['eval_k']}")
    final.legend()
    _save(fig, path)


def rate_distortion(path, rows, dataset):
    """Reconstruction (distortion) against KL (rate) over beta, and the ELBO over beta."""
    fig, (rd, elbo) = plt.subplots(1, 2, figsize=(12, 4.8))
    kl = [r["test_kl"] for r in rows]
    rec = [r["test_reconstruction"] for r in rows]
    rd.plot(kl, rec, "o-")
    for r, x, y in zip(rows, kl, rec):
        rd.annotate(
            f"β={r['hparams']['beta']:g}", (x, y), textcoords="offset points", xytext=(5, 5)
        )
    rd.set_xlabel("KL(q(z|x) || p(z)), nats (rate)")
    rd.set_ylabel("-E_q log p(x|z), nats (distortion)")
    rd.set_title(f"Reconstruction against KL over beta ({dataset}, test)")
    betas = [r["hparams"]["beta"] for r in rows]
    elbo.plot(betas, [r["test_elbo"] for r in rows], "o-", label="test ELBO")
    elbo.plot(betas, [-r["test_nll"] for r in rows], "s-", label="test log p(x) (IW bound)")
    elbo.set_xscale("log")
    elbo.minorticks_off()
    elbo.set_xticks(betas, [f"{b:g}" for b in betas])
    elbo.set_xlabel("beta")
    elbo.set_ylabel("nats per image")
    elbo.set_title(f"Bounds over beta, k = {rows[0]['eval_k']}")
    elbo.legend()
    _save(fig, path)


def samples(path, rows, dataset):
    """One grid of prior samples (pixel means) per run."""
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 4.6))
    for ax, r in zip(np.atleast_1d(axes), rows):
        images = np.asarray(r["samples"], np.float32)
        ax.imshow(figures.image_grid(images, 8), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{r['name']}\ntest ELBO {r['test_elbo']:.1f} nats", fontsize="medium")
        ax.axis("off")
    fig.suptitle(f"Samples: pixel means of p(x|z), z ~ N(0, I) ({dataset})")
    _save(fig, path, top=0.9)


def encodings(path, rows, dataset):
    """The test encodings of the (first) 2-D run, coloured by class."""
    r = rows[0]
    figures.save_encodings(
        path,
        np.asarray(r["encodings"], np.float32),
        np.asarray(r["encoding_labels"]),
        tuple(r["class_names"]),
        title=(
            f"Test-set posterior means, 2-D VAE ({dataset}); "
            f"5-NN accuracy {100 * r['knn_accuracy']:.1f}%"
        ),
    )


PLOTS = {
    "elbo_curves": elbo_curves,
    "rate_distortion": rate_distortion,
    "samples": samples,
    "encodings": encodings,
}
