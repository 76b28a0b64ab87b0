"""Per-epoch schedules of the objective's weights: KL warm-up and the capacity target.

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
