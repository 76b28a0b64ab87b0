"""Adam with TensorFlow's fused update kernel: the same arithmetic in one pass per variable.

Keras' Adam updates each variable with about ten separate element-wise ops (sub, mul,
square, sqrt, div and three assignments), each a full pass over the variable's memory.
For the 784-512-256-2 VAE at batch 128 those passes took as long as all the matmuls
together (profile in results/benchmark.md). `tf.raw_ops.ResourceApplyAdam` does the
same update,
    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    var -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon),
in one vectorised, multi-threaded pass, so the two optimizers follow the same path up
to float rounding. Other backends, AMSGrad and sparse gradients use Keras' own code.

The kernel's scalars (beta^t, the learning rate, the casts) are the same for every
variable of a step, so they are computed once per step rather than once per variable:
for the 14 variables of Burda et al.'s model that is some 80 small ops fewer per step,
and the update costs what its 14 kernels cost (experiments/microbench_adam.py).
"""

import keras
from keras import ops


def _handle(variable):
    # Keras wraps a tf.Variable (the optimizer may be handed either); the raw op
    # wants the resource handle underneath.
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


@keras.saving.register_keras_serializable(package=__package__)
class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose dense TensorFlow updates run as one fused kernel."""

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # The scalars of this step, by dtype, shared by its variables' update_step calls.
        self._step_scalars = {}
        try:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._step_scalars = None

    def _scalars(self, dtype, learning_rate):
        """ResourceApplyAdam's scalar arguments in `dtype`, computed once per step."""
        cache = getattr(self, "_step_scalars", None)
        if cache is not None and dtype in cache:
            return cache[dtype]
        local_step = ops.cast(self.iterations + 1, dtype)
        scalars = {
            "beta1_power": ops.power(ops.cast(self.beta_1, dtype), local_step),
            "beta2_power": ops.power(ops.cast(self.beta_2, dtype), local_step),
            "lr": ops.cast(learning_rate, dtype),
            "beta1": ops.cast(self.beta_1, dtype),
            "beta2": ops.cast(self.beta_2, dtype),
            "epsilon": ops.cast(self.epsilon, dtype),
        }
        if cache is not None:
            cache[dtype] = scalars
        return scalars

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if (
            keras.backend.backend() != "tensorflow"
            or self.amsgrad
            or isinstance(gradient, tf.IndexedSlices)
        ):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            grad=ops.cast(gradient, dtype),
            **self._scalars(dtype, learning_rate),
        )
