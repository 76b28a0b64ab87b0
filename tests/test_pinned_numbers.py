"""Numbers recorded before the restructuring of issue 14, pinned to float tolerance.

A same-seed loss curve of a tiny training run (ELBO with dynamic binarization, and
IWAE with k = 5), its test IWAE bound, and a k = 1000 importance-weighted NLL. Moving
the maths between modules must leave each of them where it was: the tolerance is that
of float32 arithmetic in another order (oneDNN differs between CPUs), far below any
change of the objective, its noise or its schedule.

To record them again after a deliberate change of the numbers:
    python tests/test_pinned_numbers.py
"""

import numpy as np
from conftest import _write_synthetic_folder, tiny_config

RECORDED = {
    "elbo_losses": [542.0592651367188, 537.3365478515625, 531.1363525390625],
    "elbo_test_nll_k1000": 518.45861691159,
    "iwae_losses": [541.7796630859375, 536.4164428710938],
    "iwae_test_bound": -531.7998657226562,
}
# Relative: float32 sums over 784 pixels and 60 images, accumulated over 12 Adam steps.
RTOL = 2e-4


class _Losses:
    """Collects the mean training loss of every epoch."""

    def __new__(cls):
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.losses = []

            def on_epoch_end(self, epoch, logs=None):
                self.losses.append(float(logs["loss"]))

        return Recorder()


def measure(root) -> dict:
    """Trains the two tiny runs under `root` and returns the numbers RECORDED holds."""
    import keras

    from keras_vae import config as config_lib
    from keras_vae import data, evaluation, handles, training

    folder = _write_synthetic_folder(root / "idx")
    out = {}
    recorder = _Losses()
    run = root / "elbo"
    config = tiny_config(run, f"idx:{folder}", epochs=3, latent_dims=3, seed=7)
    training.train_and_evaluate(config, callbacks=(recorder,))
    out["elbo_losses"] = recorder.losses
    model = keras.saving.load_model(str(run / "checkpoints" / "latest.keras"))
    splits = data.load_splits(config_lib.resolve(config).data, config.train.seed)
    test_images = splits.split("test")[0][:20]
    report = evaluation.evaluate_images(
        handles.as_handle(model), np.asarray(test_images, np.float32) / 255.0, 1000, seed=3
    )
    out["elbo_test_nll_k1000"] = report["nll"]

    recorder = _Losses()
    config = tiny_config(
        root / "iwae", f"idx:{folder}", epochs=2, objective="iwae", num_samples=5, seed=7
    )
    metrics = training.train_and_evaluate(config, callbacks=(recorder,))
    out["iwae_losses"] = recorder.losses
    out["iwae_test_bound"] = metrics["test"]["iwae"]
    return out


def test_the_numbers_recorded_before_the_move_are_unchanged(tmp_path):
    got = measure(tmp_path)
    for name, recorded in RECORDED.items():
        np.testing.assert_allclose(got[name], recorded, rtol=RTOL, err_msg=name)


if __name__ == "__main__":
    import pathlib
    import sys
    import tempfile

    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        print(repr(measure(pathlib.Path(tmp))))
