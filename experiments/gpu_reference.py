"""What a GPU does with keras_vae's model, measured in PyTorch where TensorFlow cannot run.

    python experiments/gpu_reference.py [default|reduce-overhead]   # a CUDA GPU and torch

The device machines lent to this project carry PyTorch but not TensorFlow, and
TensorFlow with its CUDA 12 libraries (about 3 GB of wheels) cannot be carried there
(results/papers/README.md, "GPU"). This script trains the model of Burda et al.'s rows,
784-200-200-50 with tanh, a Bernoulli likelihood on dynamically binarized pixels and
Adam, in PyTorch with the data on the device. It reports the training examples per
second of the VAE at batch 20, 1024 and 8192, and of IWAE k = 50 at batch 20. The
medians are over timed rounds, after warm-up. These are the hardware's numbers for the
maths keras_vae runs, not keras_vae's.
"""

import json
import math
import statistics
import sys
import time


def main() -> int:
    import torch
    from torch import nn

    if not torch.cuda.is_available():
        print("gpu_reference.py: error: no CUDA GPU")
        return 1
    device = torch.device("cuda")
    torch.manual_seed(0)
    # Random images with MNIST's mean intensity stand in for the digits: the cost does
    # not depend on the values.
    data = (torch.rand(60_000, 784, device=device) * 0.26).clamp(0, 1)

    def model():
        encoder = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                                nn.Linear(200, 100))  # fmt: skip
        decoder = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                                nn.Linear(200, 784))  # fmt: skip
        return nn.ModuleList([encoder, decoder]).to(device)

    def make_step(net, k):
        encoder, decoder = net
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-4)

        def loss_of(x):
            x = torch.bernoulli(x)
            mean, log_variance = encoder(x).chunk(2, dim=-1)
            eps = torch.randn((k, *mean.shape), device=device)
            z = mean + torch.exp(0.5 * log_variance) * eps
            logits = decoder(z)
            log_px = -nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand(k, -1, -1), reduction="none"
            ).sum(-1)
            log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
            log_qz = -0.5 * (eps**2 + log_variance + math.log(2 * math.pi)).sum(-1)
            log_w = log_px + log_pz - log_qz
            return -(torch.logsumexp(log_w, 0) - math.log(k)).mean()

        def step(x):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    mode = sys.argv[1] if len(sys.argv) > 1 else "default"
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "mode": mode}
    for name, batch, k in (("vae", 20, 1), ("vae", 1024, 1), ("vae", 8192, 1), ("iwae50", 20, 50)):
        # mode "reduce-overhead" replays each step as a CUDA graph: one launch, not hundreds.
        step = torch.compile(make_step(model(), k), mode=mode)
        steps = max(20, min(2000, 400_000 // batch))
        batches = [data[i * batch % 59_000 : i * batch % 59_000 + batch] for i in range(steps)]
        for x in batches[:20]:  # Warm-up: compilation and the first steps.
            step(x)
        torch.cuda.synchronize()
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for x in batches:
                step(x)
            torch.cuda.synchronize()
            rounds.append(steps * batch / (time.perf_counter() - start))
        results[f"{name}_batch{batch}"] = {
            "examples_per_second_median": statistics.median(rounds),
            "rounds": rounds,
        }
        print(f"{name} batch {batch}: {statistics.median(rounds):,.0f} examples/s (median of 5)",
              flush=True)  # fmt: skip
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
