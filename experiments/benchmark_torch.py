"""The PyTorch rival of experiments/benchmark.py: the same VAE, data handling and optimizer.

    python experiments/benchmark_torch.py IMAGES.npy

is started by benchmark_training.TorchWorker, in a process of its own: in one process
with TensorFlow, PyTorch's OpenMP threads slowed TensorFlow's epochs at batch 1024
from 3.8 s to 5.1 s (results/benchmark.md). It reads one JSON request per line on
stdin and answers each with one line on stdout that starts with REPLY (PyTorch's
compiler may print lines of its own):

    {"versions": true}                       -> {"torch": ..., "threads": ..., ...}
    {"build": KEY, "spec": "784-200-200-50/tanh", "batch_size": 20,
     "objective": "elbo" | "iwae", "samples": 5, "examples": 10000,
     "compiled": false}                      -> {"built": KEY}
    {"epoch": KEY}                           -> {"seconds": wall time of one epoch}

The model is keras_vae's: a dense encoder with mean and log-variance heads, z drawn
by reparameterisation (k draws per example for IWAE), a dense decoder giving Bernoulli
logits; dynamic binarization of the uint8 images, Adam at 1e-3 with Keras' epsilon.
The ELBO uses the closed-form KL, IWAE the k-sample bound (Burda et al. 2015), as
keras_vae does. Nothing here imports TensorFlow.
"""

import json
import math
import sys
import time

import numpy as np
import roofline

REPLY = "BENCHMARK_TORCH_REPLY "
LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-7  # Keras' default; PyTorch's is 1e-8, set to match keras_vae.
LOG_2PI = math.log(2 * math.pi)


def trainer(images, spec, batch_size, objective, samples, compiled, seed=0):
    """A function that trains one more epoch of a fresh model; one call per epoch."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    spec = roofline.ModelSpec.parse(spec)
    pixels, hidden, latent = spec.pixels, list(spec.hidden), spec.latent
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[spec.activation]

    def stack(sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), act()]
        return layers

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(*stack([pixels, *hidden]))
            self.mean = nn.Linear(hidden[-1], latent)
            self.log_variance = nn.Linear(hidden[-1], latent)
            self.decoder = nn.Sequential(
                *stack([latent, *hidden[::-1]]), nn.Linear(hidden[0], pixels)
            )

        def forward(self, x):
            h = self.encoder(x)
            mean, log_variance = self.mean(h), self.log_variance(h)
            noise = torch.randn((samples, *mean.shape), dtype=mean.dtype)
            z = mean + torch.exp(0.5 * log_variance) * noise  # [k, B, L]
            logits = self.decoder(z)
            log_likelihood = -nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none"
            ).sum(-1)
            if objective == "iwae":
                log_prior = -0.5 * (z.square() + LOG_2PI).sum(-1)
                log_posterior = -0.5 * (noise.square() + log_variance + LOG_2PI).sum(-1)
                log_weights = log_likelihood + log_prior - log_posterior
                bound = torch.logsumexp(log_weights, 0) - math.log(samples)
                return -bound.mean()
            kl = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum(-1)
            return (-log_likelihood.mean(0) + kl).mean()

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=ADAM_EPSILON)

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = model(x)
        loss.backward()
        optimizer.step()
        return loss

    step_fn = torch.compile(step) if compiled else step
    stored = torch.from_numpy(images.reshape(len(images), -1))
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        order = torch.randperm(len(stored), generator=generator)
        for start in range(0, len(stored), batch_size):
            x = stored[order[start : start + batch_size]].float() / 255.0
            step_fn(torch.bernoulli(x))

    return epoch


def versions():
    import torch

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def serve(images_path, requests=sys.stdin, replies=sys.stdout):
    images = np.load(images_path)
    trainers = {}
    for line in requests:
        request = json.loads(line)
        if "versions" in request:
            answer = versions()
        elif "build" in request:
            trainers[request["build"]] = trainer(
                # The first `examples` images, as the keras_vae contenders of the case.
                images[: request["examples"]],
                request["spec"],
                request["batch_size"],
                request["objective"],
                request["samples"],
                request["compiled"],
            )
            answer = {"built": request["build"]}
        else:
            epoch = trainers[request["epoch"]]
            start = time.perf_counter()
            epoch()
            answer = {"seconds": time.perf_counter() - start}
        replies.write(REPLY + json.dumps(answer) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
