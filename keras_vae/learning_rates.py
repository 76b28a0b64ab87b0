"""Learning-rate schedules: the rate of each epoch as a pure function of the epoch (from 0).

The schedules of the objective's weights (KL warm-up, capacity) are in
keras_vae/objectives.py, with the objective they weight. This module imports
nothing, as config.py, which validates the schedule's name, must not import TensorFlow.
"""

import math

LEARNING_RATE_SCHEDULES = ("constant", "burda", "cosine")
# Burda et al. 2015, section 5: 3^i passes over the data at 1e-3 * 10^(-i/7), i = 0..7.
BURDA_STAGES = 8


def burda_epochs() -> int:
    """The length of Burda et al.'s schedule: sum of 3^i for i = 0..7, 3,280 epochs."""
    return sum(3**i for i in range(BURDA_STAGES))


def learning_rate_at(epoch: int, base: float, schedule: str, epochs: int | None = None) -> float:
    """The learning rate in `epoch` (from 0) of a run of `epochs` epochs.

    constant: `base` throughout. burda: base * 10^(-i/7) in stage i, which lasts 3^i
    epochs (Burda et al. 2015, with base 1e-3); epochs beyond the last stage keep its rate.
    cosine: base * (1 + cos(pi * epoch / epochs)) / 2, from `base` towards 0 over the
    run (Loshchilov & Hutter 2017, without restarts); it needs `epochs`.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if schedule == "constant":
        return float(base)
    if schedule == "cosine":
        if not epochs or epochs < 1:
            raise ValueError(f"the cosine schedule needs the run's epochs (>= 1), got {epochs}")
        return float(base) * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    if schedule != "burda":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    stage, end = 0, 1
    while epoch >= end and stage < BURDA_STAGES - 1:
        stage += 1
        end += 3**stage
    return float(base) * 10 ** (-stage / 7)
