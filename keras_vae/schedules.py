"""Per-epoch schedules: the objective's weights (KL warm-up, capacity) and the learning rate.

Pure functions of the (0-based) epoch, so tests and the training callback agree on
one definition. Both schedules are linear ramps that start at 0 in epoch 0 and hold
their final value from epoch N on:

    value_e = final * min(1, e / N),        N = 0: final from the start.

So N epochs (0 .. N-1) run below the final value, and epoch N is the first at it.
"""


def _ramp(epoch: int, final: float, epochs: int) -> float:
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if epochs <= 0:
        return float(final)
    return float(final) * min(1.0, epoch / epochs)


def kl_weight_at(epoch: int, beta: float, warmup_epochs: int) -> float:
    """The KL weight in `epoch`: beta * min(1, epoch / warmup_epochs) (Sønderby et al. 2016).

    E.g. beta = 2, warmup_epochs = 4 gives 0, 0.5, 1, 1.5, 2, 2, ... for epochs 0, 1, 2, ...
    """
    return _ramp(epoch, beta, warmup_epochs)


def capacity_at(epoch: int, capacity_max: float, capacity_epochs: int) -> float:
    """The KL target C in nats in `epoch`: capacity_max * min(1, epoch / capacity_epochs).

    Burgess et al. 2018 ("Understanding disentangling in beta-VAE") raise C linearly
    from 0 so the KL, and with it the information in z, is let in gradually.
    """
    return _ramp(epoch, capacity_max, capacity_epochs)


def first_settled_epoch(*schedule_epochs: int) -> int:
    """The first epoch in which every schedule has reached its final value."""
    return max((max(0, n) for n in schedule_epochs), default=0)


# The names config.py validates against (this module imports nothing, as config must not).
LEARNING_RATE_SCHEDULES = ("constant", "burda")
# Burda et al. 2015, section 5: 3^i passes over the data at 1e-3 * 10^(-i/7), i = 0..7.
BURDA_STAGES = 8


def burda_epochs() -> int:
    """The length of Burda et al.'s schedule: sum of 3^i for i = 0..7, 3,280 epochs."""
    return sum(3**i for i in range(BURDA_STAGES))


def learning_rate_at(epoch: int, base: float, schedule: str) -> float:
    """The learning rate in `epoch` (from 0).

    constant: `base` throughout. burda: base * 10^(-i/7) in stage i, which lasts 3^i
    epochs (Burda et al. 2015, with base 1e-3); epochs beyond the last stage keep its rate.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if schedule == "constant":
        return float(base)
    if schedule != "burda":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    stage, end = 0, 1
    while epoch >= end and stage < BURDA_STAGES - 1:
        stage += 1
        end += 3**stage
    return float(base) * 10 ** (-stage / 7)
