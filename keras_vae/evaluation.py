"""Held-out evaluation in the literature's terms: ELBO, importance-weighted log p(x), active units.

The importance-weighted estimate (Burda et al. 2015, eq. 8) is
    log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),
a lower bound that tightens as k grows; k = 5000 is the literature's protocol for
reporting the negative log-likelihood (NLL = minus this). The k samples are pushed
through the decoder in large chunks (so the CPU runs near its matmul rate) and
reduced with a running logsumexp, so memory does not grow with k.
"""

import concurrent.futures
import dataclasses
import math
import os
import time

import numpy as np

from keras_vae import data as data_lib
from keras_vae import handles, inference, latent
from keras_vae import model_dir as model_dir_lib
from keras_vae.errors import DataError
from keras_vae.eval_config import EvalConfig, load_images

# Rows (image x sample pairs) per decoder call: big enough for matmuls near peak
# speed and a small per-call overhead, small enough that the [rows, pixels] decoder
# output (16 MB here) stays near the caches. experiments/benchmark.py --part=eval
# measured 2,500-10,000 within noise of each other on a 2-core machine.
DEFAULT_ROWS_PER_CALL = 5000
# Decoder calls in flight at once: experiments/benchmark.py --part=eval measured two
# about 13% faster than one on a 2-core machine.
DEFAULT_WORKERS = 2
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2015, section 5.2.


@dataclasses.dataclass
class _RunningLogMeanExp:
    """log (1/n) sum exp(w) over a stream of [S, B] chunks, per column, in O(B) memory."""

    maximum: np.ndarray
    scaled_sum: np.ndarray
    count: int = 0

    @classmethod
    def zeros(cls, batch):
        return cls(np.full(batch, -np.inf), np.zeros(batch))

    def add(self, chunk):
        chunk = chunk.astype(np.float64)
        new_max = np.maximum(self.maximum, chunk.max(axis=0))
        self.scaled_sum = self.scaled_sum * np.exp(self.maximum - new_max) + np.exp(
            chunk - new_max
        ).sum(axis=0)
        self.maximum = new_max
        self.count += len(chunk)

    def result(self):
        return self.maximum + np.log(self.scaled_sum) - math.log(self.count)


def active_units(mean):
    """Dimensions whose posterior mean varies across the data: Cov_x(E_q[z_i]) > 0.01."""
    return int(np.sum(np.var(mean, axis=0) > ACTIVE_UNIT_THRESHOLD))


def _per_example_scores(
    scorer,
    images,
    num_samples,
    seed,
    rows_per_call=DEFAULT_ROWS_PER_CALL,
    progress=None,
    workers=DEFAULT_WORKERS,
    labels=None,
):
    """Per-image importance-weighted bound, mean log p(x|z) and mean log w over the draws.

    Args:
        scorer: a `handles` view of the model (anything with `log_weights`).
        images: float32 [N, H, W] in [0, 1].
        num_samples: k, samples of z per image.
        seed: the draws are a function of (seed, batch, chunk), whatever `workers` is:
            reruns give the same numbers.
        progress: called as progress(images_done, total) after each batch of images.
        workers: batches scored at once, from as many threads.

    Returns:
        (iw_bound [N], mean_log_likelihood [N], mean_log_weight [N]) in nats, float64.
    """
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    # The SavedModel refuses calls that decode more than MAX_OUTPUT_FLOATS floats;
    # only images far larger than MNIST's would need fewer rows than the default.
    pixels = int(np.prod(np.shape(images)[1:]))
    rows_per_call = max(1, min(rows_per_call, handles.MAX_OUTPUT_FLOATS // max(pixels, 1)))
    # Equal chunks (5000 = 2 x 2500, not 4096 + 904), so at most two shapes get traced.
    chunks = math.ceil(num_samples / rows_per_call)
    samples_per_call = math.ceil(num_samples / chunks)
    images_per_call = max(1, rows_per_call // samples_per_call)

    def score_batch(call):
        batch = images[call * images_per_call : (call + 1) * images_per_call]
        extra = {}
        if labels is not None:  # A conditional model: log p(x|y).
            extra["labels"] = labels[call * images_per_call : (call + 1) * images_per_call]
        real = len(batch)
        if real < images_per_call:
            # Pad to the usual shape so the graph is not traced and compiled again.
            pad = np.zeros((images_per_call - real, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, pad])
            if labels is not None:
                padding = np.zeros(images_per_call - real, extra["labels"].dtype)
                extra["labels"] = np.concatenate([extra["labels"], padding])
        running = _RunningLogMeanExp.zeros(len(batch))
        log_likelihood_sum = np.zeros(len(batch))
        log_weight_sum = np.zeros(len(batch))
        for chunk in range(chunks):
            size = min(samples_per_call, num_samples - chunk * samples_per_call)
            log_w, log_likelihood = scorer.log_weights(
                batch, size, [seed, call * chunks + chunk], **extra
            )
            running.add(log_w)
            log_likelihood_sum += log_likelihood.sum(axis=0, dtype=np.float64)
            log_weight_sum += log_w.sum(axis=0, dtype=np.float64)
        means = (log_likelihood_sum[:real] / num_samples, log_weight_sum[:real] / num_samples)
        return running.result()[:real], *means

    bounds, log_likelihoods, log_weights = [], [], []
    calls = range(math.ceil(len(images) / images_per_call))
    # Two batches in flight keep both cores busy through each call's small, serial ops
    # (tanh layers, sampling, the log-sum-exp); TensorFlow releases the GIL.
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for call, (bound, log_likelihood, log_weight) in zip(calls, pool.map(score_batch, calls)):
            bounds.append(bound)
            log_likelihoods.append(log_likelihood)
            log_weights.append(log_weight)
            if progress is not None:
                progress(min((call + 1) * images_per_call, len(images)), len(images))
    return np.concatenate(bounds), np.concatenate(log_likelihoods), np.concatenate(log_weights)


def per_example_bounds(
    scorer,
    images,
    num_samples,
    seed,
    rows_per_call=DEFAULT_ROWS_PER_CALL,
    progress=None,
    workers=DEFAULT_WORKERS,
    labels=None,
):
    """Per-image importance-weighted bound and mean log p(x|z) over `num_samples` draws,
    (iw_bound [N], mean_log_likelihood [N]) in nats; see `_per_example_scores`. A
    conditional model takes the images' labels: the bound is then of log p(x|y)."""
    scores = _per_example_scores(
        scorer, images, num_samples, seed, rows_per_call, progress, workers, labels
    )
    return scores[:2]


def _layer_means(scorer, images):
    chunks = [scorer.layer_means(images[i : i + 1000]) for i in range(0, len(images), 1000)]
    if not chunks or chunks[0] is None:
        return None
    return [np.concatenate([c[layer] for c in chunks]) for layer in range(len(chunks[0]))]


def evaluate_images(
    scorer,
    images,
    num_samples,
    seed=0,
    rows_per_call=DEFAULT_ROWS_PER_CALL,
    progress=None,
    closed_form_kl=True,
    labels=None,
):
    """The evaluation report of a set of images; every quantity in nats per example.

    elbo = mean log p(x|z) over the k draws minus the KL: in closed form for a model
    with one stochastic layer and the N(0, I) prior (closed_form_kl), else estimated at
    the same draws (a VampPrior, two layers: then elbo = mean log w). nll = minus the
    k-sample importance-weighted bound, averaged over images.
    """
    images = np.asarray(images, np.float32)
    start = time.perf_counter()
    mean, log_variance = inference.posterior(scorer, images, labels)
    kl_dims = latent.kl_per_dimension(mean, log_variance)
    bounds, log_likelihoods, log_weights = _per_example_scores(
        scorer, images, num_samples, seed, rows_per_call, progress, labels=labels
    )
    per_layer = None
    if labels is None and getattr(scorer, "layer_means", None) is not None:
        layers = _layer_means(scorer, images)
        if layers is not None and len(layers) > 1:
            per_layer = [active_units(m) for m in layers]
    reconstruction = -float(np.mean(log_likelihoods))
    if closed_form_kl:
        kl = float(np.sum(kl_dims))
    else:
        kl = float(np.mean(log_likelihoods - log_weights))
    return {
        "elbo": -(reconstruction + kl),
        "reconstruction": reconstruction,
        "kl": kl,
        "log_likelihood": float(np.mean(bounds)),
        "nll": -float(np.mean(bounds)),
        "num_importance_samples": int(num_samples),
        "active_units": active_units(mean),
        # Two stochastic layers: the active units of z1 and of z2 (Burda et al. 2015).
        **({"active_units_per_layer": per_layer} if per_layer else {}),
        "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
        "kl_per_dimension": [float(v) for v in kl_dims],
        "num_examples": len(images),
        "seed": int(seed),
        "seconds": time.perf_counter() - start,
    }


# What a reported NLL is a measure of: numbers of different kinds are never comparable.
NLL_KINDS = {
    "probability": "-log P(x): probability of binary pixels, in nats per example",
    "density": "-log p(x): density of pixels in [0, 1], in nats per example; it may be "
    "negative and is not comparable with probabilities of binary data",
    "cross_entropy": "Bernoulli cross-entropy of grey pixels in [0, 1], in nats per example; "
    "not a likelihood, and not comparable with NLLs of binary data",
    "unknown": "the SavedModel does not record its likelihood (an older keras_vae's); "
    "the NLL is a probability if it is Bernoulli and the data binary, a density if Gaussian",
}


def nll_kind(likelihood: str | None, binary_data: bool) -> str:
    """The key of NLL_KINDS for a model of `likelihood` scored on (non-)binary data."""
    if likelihood in ("gaussian", "continuous_bernoulli"):
        return "density"
    if likelihood == "bernoulli":
        return "probability" if binary_data else "cross_entropy"
    return "unknown"


def run_record(c: EvalConfig):
    """The evaluated model's run Config, from its run or SavedModel record, if it has one."""
    if c.model_dir is not None:
        return model_dir_lib.load_run_config(c.model_dir)[0]
    record = model_dir_lib.load_saved_model_record(c.saved_model)
    return None if record is None else record[0]


def load_scorer(c: EvalConfig, images, source: dict, labels) -> handles.SavedModelHandle:
    """The SavedModel that `c` names, checked against the data it is to score: the
    examples' shape, and for a conditional model labels that it takes."""
    scorer = handles.load_saved_model(c.saved_model)
    data_lib.check_image_shape(images.shape[1:], scorer.image_shape)
    if scorer.num_classes and (
        not source.get("labelled", True) or (len(labels) and labels.max() >= scorer.num_classes)
    ):
        raise DataError(
            f"this conditional model scores images with their labels, from 0 to "
            f"{scorer.num_classes - 1}; the data's labels do not fit (or it has none)"
        )
    return scorer


def progress_printer(print_fn, unit: str):
    """progress(done, total): a line at most every 10 s, and one at the end."""
    last = [time.perf_counter()]

    def progress(done, total):
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            print_fn(f"  {done}/{total} {unit}", flush=True)

    return progress


def evaluate_run(c: EvalConfig, print_fn=print, data=None) -> dict:
    """Evaluates a run or SavedModel per `c` (already resolved); writes and returns the report.

    data: (images, source, labels) from `eval_config.load_images(c)`, if already loaded.
    """
    images, source, labels = data if data is not None else load_images(c)
    images = data_lib.unit_floats(images)  # Decodes --input's image files.
    scorer = load_scorer(c, images, source, labels)
    progress = progress_printer(print_fn, "images")
    print_fn(
        f"evaluating {len(images)} {c.input or c.split} examples with "
        f"k={c.num_importance_samples} "
        f"importance samples",
        flush=True,
    )
    record = run_record(c)
    model = record.model if record is not None else None
    closed_form = model is None or (model.prior == "standard" and not model.top_latent_dims)
    report = evaluate_images(
        scorer,
        images,
        c.num_importance_samples,
        c.seed,
        progress=progress,
        closed_form_kl=closed_form,
        labels=labels if scorer.num_classes else None,
    )
    binarized = source["binarize"] in ("static", "dynamic")
    likelihood = None if model is None else model.likelihood
    kind = nll_kind(likelihood, data_lib.is_binary(images, one=1.0))
    report = {
        "split": c.split if c.input is None else None,
        "input": c.input,
        **report,
        "likelihood": likelihood,
        # A conditional model is scored with the images' labels: its NLL is -log p(x|y).
        "conditional": bool(scorer.num_classes),
        "nll_kind": kind,
        "nll_means": NLL_KINDS[kind],
        "binarized": binarized,
        "binarization": (
            f"binarized once with the fixed seed {data_lib.EVAL_BINARIZATION_SEED}"
            f" (+1 for test, +2 for train), whatever the run's seed"
            if binarized
            else "grey-scale pixels in [0, 1]"
        ),
        "data_source": source,
        "saved_model": os.path.abspath(c.saved_model),
    }
    model_dir_lib.write_json(c.output, report)
    return report
