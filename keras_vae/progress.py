"""What a training run prints: one summary line per epoch, and a progress bar on a terminal."""

import sys
import time

import keras


class EpochSummary(keras.callbacks.Callback):
    """Prints one line per epoch with train and validation loss, reconstruction and KL."""

    def __init__(self, epochs: int, print_fn=print, epoch_seconds=()):
        super().__init__()
        self.epochs = epochs
        self.print_fn = print_fn
        # Those of earlier epochs, when a run resumes.
        self.epoch_seconds = list(epoch_seconds)
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        logs = logs or {}

        def part(prefix):
            return (
                f"loss {logs.get(prefix + 'loss', float('nan')):.2f} "
                f"(reconstruction {logs.get(prefix + 'reconstruction', float('nan')):.2f}, "
                f"KL {logs.get(prefix + 'kl', float('nan')):.2f})"
            )

        self.print_fn(
            f"epoch {epoch + 1}/{self.epochs}: train {part('')} | "
            f"validation {part('val_')} | {seconds:.1f} s",
            flush=True,
        )


class ProgressBar(keras.callbacks.Callback):
    """A one-line progress bar of the epoch's steps, for a terminal only.

    Keras' own bar counts calls rather than steps when several steps run per call (it
    showed 64/57), and fills a redirected log with backspaces and ANSI codes. This one
    rewrites a single line with carriage returns, at most a few times a second, and
    clears it before the epoch's summary line is printed.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, stream=None):
        super().__init__()
        self.epochs = epochs
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.stream = stream or sys.stdout
        self._epoch = 0
        self._shown = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._shown = 0.0
        self._draw(0, None)

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._shown < 0.25:
            return
        self._shown = now
        # `batch` is the index of the last step run; clamp against a call's overshoot.
        self._draw(min(batch + 1, self.steps_per_epoch), (logs or {}).get("loss"))

    def on_epoch_end(self, epoch, logs=None):
        self.stream.write("\r\033[K")
        self.stream.flush()

    def _draw(self, done, loss):
        width = 30
        filled = width * done // self.steps_per_epoch
        text = (
            f"\repoch {self._epoch + 1}/{self.epochs} [{'=' * filled}{'.' * (width - filled)}] "
            f"{done}/{self.steps_per_epoch}"
        )
        if loss is not None:
            text += f" loss {float(loss):.2f}"
        self.stream.write(text + "\033[K")
        self.stream.flush()
