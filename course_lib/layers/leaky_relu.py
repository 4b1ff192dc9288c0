"""LeakyReLU as a layer: the whole contract a new layer needs, forward and backward side by side."""
import warnings

from course_lib.layers.base import Layer


class LeakyReLU(Layer):
    """``x`` where ``x > 0``, else ``negative_slope * x`` (带泄漏的 ReLU).

    Args:
        negative_slope: float >= 0, the slope for negative inputs (Keras's default 0.3).
            Keras 2's ``alpha=`` is accepted with the same deprecation warning Keras 3 gives.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument `alpha` is deprecated. Use `negative_slope` instead.")
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope < 0:
            raise ValueError(
                f"LeakyReLU: negative_slope must be a float >= 0. Received: negative_slope={negative_slope!r}"
            )
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def forward(self, inputs, training=False):
        slope = (inputs > 0) + (inputs <= 0) * inputs.dtype.type(self.negative_slope)  # TF's slope at 0
        return inputs * slope, slope  # the cache: the local slope, all backward needs

    def backward(self, output_grads, slope):
        return output_grads * slope, {}  # no weights, so no weight gradients

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}
