"""More image augmentation layers (更多图像增强层), with Keras 3.15's behaviour.

Geometry: :class:`RandomHeight`, :class:`RandomWidth` (Keras 3 keeps them as
``keras._legacy.layers``), :class:`RandomShear`. Colour and values:
:class:`RandomGrayscale`, :class:`RandomInvert`, :class:`RandomPosterization`,
:class:`Solarization`, :class:`AutoContrast`, :class:`RandomSharpness`,
:class:`RandomErasing`.

They follow :mod:`course_lib.layers.preprocessing`: ``get_random_transformation``
draws what the layer will do (Keras's dict keys, shapes and dtypes) and
``transform_images`` applies it, so a test gives Keras's draw to both
libraries. What each layer does at inference is Keras's, and differs:

- the identity, integer images kept: RandomGrayscale, RandomInvert,
  RandomPosterization;
- a cast to the layer's float type only: RandomShear, Solarization,
  RandomSharpness, RandomErasing, RandomHeight, RandomWidth;
- AutoContrast is not random: it stretches every image, in training and at inference.

RandomGrayscale, RandomPosterization and RandomSharpness draw their
parameters even at inference, as Keras does (the draws are then unused).

Gradients: every layer but RandomPosterization has an exact backward pass
with respect to its images: the resizes and the shear are linear maps
(:mod:`course_lib.ops.image`), grayscale, inversion, erasing and sharpness are
linear (then a clip that passes the gradient inside the value range, bounds
included, as TensorFlow's clip does), solarization is ``±1`` where not
clipped, and AutoContrast differentiates through each channel's minimum and
maximum as TensorFlow does (ties share the gradient equally).
RandomPosterization rounds to integers: TensorFlow has no gradient there, so
it is ``differentiable = False`` (the engine stops at it) and its backward
raises while training.
"""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.preprocessing import (
    _host, _ImagePreprocessingLayer, _is_number, _RandomLayer, _range_factor, _spatial_axes,
    _WarpingLayer,
)
from course_lib.ops.image import RESIZE_INTERPOLATIONS, resize_backward, resize_forward

GRAYSCALE_WEIGHTS = (0.2989, 0.5870, 0.1140)
"""The RGB weights of ``keras.ops.image.rgb_to_grayscale`` (ITU-R 601, as ``tf.image.rgb_to_grayscale``)."""


# ------------------------------------------------------------------ helpers
def _batched(images):
    """``(images as rank 4, was_unbatched)``: Keras's layers transform one image as a batch of one."""
    return (images[None], True) if images.ndim == 3 else (images, False)


def _unbatched(values, was_unbatched):
    return values[0] if was_unbatched else values


def _channel_axis(data_format, ndim):
    return ndim - 1 if data_format == "channels_last" else ndim - 3


def _sorted_value_range(where, value_range):
    """Keras's ``_set_value_range``: a list or tuple of two entries, stored sorted (as a list)."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(
            f"{where}: value_range must be a list of two numbers (the lowest and highest pixel value). "
            f"Received: value_range={value_range!r}"
        )
    return sorted(value_range)


def _to_255(images, value_range, dtype):
    """Keras's ``_transform_value_range(images, value_range, (0, 255))`` (the identity when already so)."""
    low, high = value_range
    if low == 0 and high == 255:
        return images
    images = images.astype(dtype, copy=False)
    low, high = backend.xp.asarray(low, dtype=dtype), backend.xp.asarray(high, dtype=dtype)
    return (images - low) / (high - low) * backend.xp.asarray(255, dtype=dtype)


def _from_255(images, value_range, dtype):
    """Keras's ``_transform_value_range(images, (0, 255), value_range)``."""
    low, high = value_range
    if low == 0 and high == 255:
        return images
    xp = backend.xp
    low, high = xp.asarray(low, dtype=dtype), xp.asarray(high, dtype=dtype)
    return images / xp.asarray(255, dtype=dtype) * (high - low) + low


def _unit_factor(where, argument, factor):
    """RandomShear's and Solarization's rule: every number in ``[0, 1]``; a pair is sorted."""
    message = (
        f"{where}: {argument} must be a number, or a pair of numbers (lower, upper), in the range [0, 1]. "
        f"Received: {argument}={factor!r}"
    )
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(item) for item in factor):
            raise ValueError(message)
        numbers_ = list(factor)
    elif _is_number(factor):
        numbers_ = [factor]
    else:
        raise ValueError(message)
    if any(number < 0 or number > 1 for number in numbers_):
        raise ValueError(message)
    return numbers_


def _clip_with_mask(values, low, high):
    """``clip(values, low, high)`` and where TensorFlow's clip passes the gradient (inside, bounds included)."""
    low, high = float(low), float(high)
    return backend.xp.clip(values, low, high), (values >= low) & (values <= high)


def _no_gradient_in_training(layer, output_grads, cache, why):
    """The backward of a layer that is the identity at inference (``cache`` None) and has no gradient in training."""
    if cache is None:
        return backend.xp.asarray(output_grads), {}
    raise TypeError(f"{type(layer).__name__} '{layer.name}' {why}. Put it before the layers you train.")


def _through_clip(output_grads, cache, adjoint):
    """Backward of a transform that ends in a clip to ``value_range``.

    ``cache`` is ``(*rest, inside, unbatched)`` (None at inference: the identity); the upstream
    gradient, as a batch and zero where the forward pass clipped, goes through ``adjoint(g, *rest)``.
    """
    dy = backend.xp.asarray(output_grads)
    if cache is None:
        return dy, {}
    *rest, inside, unbatched = cache
    g = (dy[None] if unbatched else dy) * inside
    return _unbatched(adjoint(g, *rest).astype(g.dtype, copy=False), unbatched), {}


# ---------------------------------------------------------------- geometry
class _RandomResize(_RandomLayer):
    """RandomHeight and RandomWidth: one stretch factor per call, then ``tf.image.resize``."""

    axis_name = "height"
    _keras_module = "keras._legacy.layers"  # Keras 3 keeps these two only as tf.keras's legacy layers

    def __init__(self, factor, interpolation="bilinear", seed=None, **kwargs):
        where = type(self).__name__
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or not all(_is_number(item) for item in factor):
                raise ValueError(
                    f"{where}: factor must be a number or a pair of numbers (lower, upper). Received: factor={factor!r}"
                )
            lower, upper = factor
        elif _is_number(factor):
            lower, upper = -factor, factor
        else:
            raise ValueError(
                f"{where}: factor must be a number or a pair of numbers (lower, upper). Received: factor={factor!r}"
            )
        if upper < lower:
            raise ValueError(
                f"{where}: factor cannot have an upper bound below its lower bound. Received: factor={factor!r}"
            )
        if lower < -1.0 or upper < -1.0:
            raise ValueError(f"{where}: factor must have values larger than -1. Received: factor={factor!r}")
        if interpolation not in RESIZE_INTERPOLATIONS:
            raise ValueError(
                f"{where}: interpolation must be one of {RESIZE_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self.lower, self.upper = lower, upper
        self.interpolation = interpolation

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"factor": float32 scalar}``, the stretch of the whole batch; None at inference."""
        if not training:
            return None
        factor = self._uniform((), 1.0 + self.lower, 1.0 + self.upper, self._generator(seed), dtype="float32")
        return {"factor": factor}

    def _axis(self, ndim):
        return ndim - 3 if self.axis_name == "height" else ndim - 2

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        axis = self._axis(images.ndim)
        # TF: cast(factor * float32(size), int32), a truncation in float32.
        size = int(backend.to_float(xp.asarray(_host(transformation["factor"]), dtype="float32")
                                    * xp.asarray(images.shape[axis], dtype="float32")))
        if size <= 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the drawn factor gives an image {self.axis_name} of {size}. "
                f"Received: images with shape {tuple(images.shape)} and factor={self.factor!r}"
            )
        height, width = images.shape[-3], images.shape[-2]
        target = (size, width) if self.axis_name == "height" else (height, size)
        return resize_forward(images, target, self.interpolation)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        return (dy if cache is None else resize_backward(dy, cache)), {}

    def compute_output_shape(self, input_shape):
        self._check_images(input_shape)
        shape = list(input_shape)
        shape[self._axis(len(shape))] = None
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")  # the legacy layers are channels_last only and do not save it
        config.update(factor=self.factor, interpolation=self.interpolation, seed=self.seed)
        return config


class RandomHeight(_RandomResize):
    """Randomly stretches the height of a batch of images while training (随机改变高度).

    One factor ``s`` uniform in ``[1 + lower, 1 + upper)`` per call; the
    images are resized to ``int(s * height)`` rows (``tf.image.resize``), the
    width kept. Keras 3 keeps this layer only as ``keras._legacy.layers.RandomHeight``.

    Args:
        factor: a number ``f`` (``[-f, f]``) or a pair ``(lower, upper)`` (not sorted:
            ``upper < lower`` is refused), each larger than -1.
        interpolation: one of ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``,
            ``"area"``, ``"lanczos3"``, ``"lanczos5"``.
        seed: int seed of the layer's draws.

    Input shape: ``(H, W, C)`` or ``(N, H, W, C)`` (channels_last only).
    Output shape: the height changed (None in ``compute_output_shape``), in the layer's float type.
    """


class RandomWidth(_RandomResize):
    """Randomly stretches the width of a batch of images while training (随机改变宽度).

    As :class:`RandomHeight`, on the width: ``int(s * width)`` columns.
    Keras 3 keeps this layer only as ``keras._legacy.layers.RandomWidth``.

    Args:
        factor, interpolation, seed: as for :class:`RandomHeight`.

    Input shape: ``(H, W, C)`` or ``(N, H, W, C)`` (channels_last only).
    Output shape: the width changed (None in ``compute_output_shape``), in the layer's float type.
    """

    axis_name = "width"


class RandomShear(_WarpingLayer):
    """Randomly shears images while training (随机剪切).

    Output pixel ``(x, y)`` reads the input at ``(x + sx * y, sy * x + y)``
    (about the top-left corner, as Keras 3.15 does), ``sx`` uniform in
    ``x_factor``'s range, ``sy`` in ``y_factor``'s, and both negated together
    for about half of the images.

    Args:
        x_factor: a number ``f`` in ``[0, 1]`` (``[-f, f]``) or a pair ``(lower, upper)``
            (sorted). Keras 3.15 wants the pair's numbers in ``[0, 1]``, which its own
            saved ``(-f, f)`` breaks; here they may lie in ``[-1, 1]``, so that its
            configs rebuild. Default 0.0: no horizontal shear.
        y_factor: likewise, the vertical shear.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"``, ``"nearest"``.
        fill_value: the value outside the image for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        self.x_factor = self._factor("x_factor", x_factor)
        self.y_factor = self._factor("y_factor", y_factor)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    @staticmethod
    def _factor(argument, factor):
        if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(_is_number(item) for item in factor):
            # Keras 3.15 refuses negative numbers in a pair, so its own configs of RandomShear(f) (which
            # store (-f, f)) do not rebuild; course_lib accepts pairs in [-1, 1] so that they do.
            if all(-1 <= item <= 1 for item in factor):
                return tuple(sorted(factor))
        values = _unit_factor("RandomShear", argument, factor)
        if len(values) == 1:
            return -abs(values[0]), abs(values[0])
        return tuple(sorted(values))

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"shear_factor": (N, 2) float32 (sx, sy), "input_shape": shape}``; None at inference."""
        if not training:
            return None
        xp = backend.xp
        shape = tuple(xp.shape(data))
        self._check_images(shape)
        draw_shape = (self._batch_size(shape), 1)
        generator = self._generator(seed)
        invert = self._uniform(draw_shape, 0.0, 1.0, generator)
        invert = xp.where(invert > 0.5, -1.0, 1.0).astype(self.dtype)
        shear_y = self._uniform(draw_shape, self.y_factor[0], self.y_factor[1], generator)
        shear_x = self._uniform(draw_shape, self.x_factor[0], self.x_factor[1], generator)
        return {"shear_factor": xp.concatenate([shear_x, shear_y], axis=1) * invert, "input_shape": shape}

    def _transforms(self, transformation, shape):
        xp = backend.xp
        shears = _host(transformation["shear_factor"]).astype("float32").reshape(-1, 2)
        ones, zeros = xp.ones_like(shears[:, :1]), xp.zeros_like(shears[:, :1])
        return xp.concatenate([ones, shears[:, :1], zeros, shears[:, 1:], ones, zeros, zeros, zeros], axis=1)

    def _transform(self, images, transformation, training):
        x, unbatched = _batched(images)
        outputs, cache = super()._transform(x, transformation, training)
        if cache is None:
            return images, None
        return _unbatched(outputs, unbatched), (cache, unbatched)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        inner, unbatched = cache
        dx = super().backward(dy[None] if unbatched else dy, inner)[0]
        return _unbatched(dx, unbatched), {}

    def get_config(self):
        config = super().get_config()
        config.update(x_factor=self.x_factor, y_factor=self.y_factor)
        return config


# ------------------------------------------------------------------- colour
class RandomGrayscale(_RandomLayer):
    """Randomly turns images grey while training (随机灰度化), keeping the channels.

    Each image is converted with probability ``factor``: every channel becomes
    ``0.2989 R + 0.5870 G + 0.1140 B`` (``keras.ops.image.rgb_to_grayscale``;
    one-channel images are unchanged). Integer images stay integers
    (the grey value truncated, as TensorFlow's cast does).

    Args:
        factor: the probability of converting an image, in ``[0, 1]``; 0.5 by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws (not in the config: Keras 3.15 does not save it).

    Input shape: rank 3 or 4 with 1 or 3 channels. Output shape: the same.
    """

    keeps_integers = True

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        if not _is_number(factor) or factor < 0 or factor > 1:
            raise ValueError(f"RandomGrayscale: factor must be a number in [0, 1]. Received: factor={factor!r}")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor

    def get_random_transformation(self, data, training=True, seed=None):
        """A bool array ``(N, 1, 1, 1)`` (``(1, 1, 1, 1)`` for one image): which images turn grey.

        Drawn at inference too, as in Keras (where it is unused).
        """
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        values = self._uniform((self._batch_size(shape),), 0.0, 1.0, self._generator(seed), dtype="float32")
        return (values < self.factor).reshape(-1, 1, 1, 1)

    def _weights(self, images):
        axis = _channel_axis(self.data_format, images.ndim)
        channels = images.shape[axis]
        if channels not in (1, 3):
            raise ValueError(
                f"RandomGrayscale '{self.name}': expected 1 (grey) or 3 (RGB) channels. "
                f"Received: images with shape {tuple(images.shape)}"
            )
        return axis, channels

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        xp = backend.xp
        axis, channels = self._weights(images)
        x, unbatched = _batched(images)
        apply = _host(transformation).astype(bool)
        if channels == 1:
            return images, None
        axis = _channel_axis(self.data_format, 4)
        compute = x.dtype if x.dtype.kind == "f" else "float32"
        weights = xp.asarray(GRAYSCALE_WEIGHTS, dtype=compute)
        grey = xp.expand_dims(xp.tensordot(x.astype(compute, copy=False), weights, axes=([axis], [0])), axis)
        outputs = xp.where(apply, grey.astype(x.dtype), x)
        return _unbatched(outputs, unbatched), (apply, weights, axis, unbatched)

    def backward(self, output_grads, cache):
        xp = backend.xp
        dy = xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        apply, weights, axis, unbatched = cache
        g = dy[None] if unbatched else dy
        shape = [1] * 4
        shape[axis] = 3
        spread = g.sum(axis=axis, keepdims=True) * weights.astype(g.dtype).reshape(shape)
        return _unbatched(xp.where(apply, spread, g), unbatched), {}

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


class RandomInvert(_RandomLayer):
    """Randomly inverts the colours of images while training (随机反色): ``y = high - x``.

    Each image draws its probability ``p`` uniform in ``factor``'s range, then
    is inverted when a second uniform draw falls below ``p``. ``high`` is
    ``value_range[1]`` (Keras's rule: ``high - x``, not ``low + high - x``).

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair ``(lower, upper)``; 1.0 by default.
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same; in the layer's float type
    while training, the input unchanged at inference.
    """

    keeps_integers = True

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        self.factor = _range_factor("RandomInvert", factor, (0, 1))
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"apply_inversion": bool (N,)}``; None at inference."""
        if not training:
            return None
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        generator = self._generator(seed)
        batch = (self._batch_size(shape),)
        probability = self._uniform(batch, self.factor[0], self.factor[1], generator, dtype="float32")
        threshold = self._uniform(batch, 0.0, 1.0, generator, dtype="float32")
        return {"apply_inversion": threshold < probability}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images.astype(self.dtype, copy=False))
        apply = _host(transformation["apply_inversion"]).astype(bool).reshape(-1, 1, 1, 1)
        high = xp.asarray(self.value_range[1], dtype=self.dtype)
        return _unbatched(xp.where(apply, high - x, x), unbatched), (apply, unbatched)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        apply, unbatched = cache
        g = dy[None] if unbatched else dy
        return _unbatched(backend.xp.where(apply, -g, g), unbatched), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomPosterization(_RandomLayer):
    """Keeps only the top ``bits`` bits of each 8-bit channel while training (随机色调分离).

    ``bits`` is drawn per image from ``[lower, upper)`` (NumPy's and Keras's
    ``randint``: the upper bound is excluded), or is ``lower`` when both are
    equal. The values are mapped from ``value_range`` to ``[0, 255]``, cast to
    ``uint8`` (truncated), shifted right then left by ``8 - bits``, and mapped
    back. Values outside ``value_range`` are first clipped to it (TensorFlow's
    cast of such values to ``uint8`` is undefined).

    Args:
        factor: an int ``f`` in ``[1, 8]`` (``[1, f]``) or a pair ``(lower, upper)``.
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same; in the layer's float type
    while training, the input unchanged at inference.
    No gradient: the layer rounds to integers (``differentiable = False``).
    """

    differentiable = False
    keeps_integers = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        self.factor = _range_factor("RandomPosterization", factor, (1, 8))
        self.value_range = _sorted_value_range("RandomPosterization", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"shift_factor": uint8 (N,)}``: ``8 - bits``. Drawn at inference too, as in Keras."""
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        batch = self._batch_size(shape)
        low, high = int(self.factor[0]), int(self.factor[1])
        if low != high:
            bits = backend.xp.asarray(self._generator(seed).integers(low, high, size=(batch,)), dtype="uint8")
        else:
            bits = backend.xp.full((batch,), low, dtype="uint8")
        return {"shift_factor": (8 - bits).astype("uint8")}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images.astype(self.dtype, copy=False))
        shift = _host(transformation["shift_factor"]).astype("uint8").reshape(-1, 1, 1, 1)
        values = xp.clip(_to_255(x, self.value_range, self.dtype), 0, 255).astype("uint8")
        values = xp.left_shift(xp.right_shift(values, shift), shift).astype(self.dtype)
        return _unbatched(_from_255(values, self.value_range, self.dtype), unbatched), "posterized"

    def backward(self, output_grads, cache):
        return _no_gradient_in_training(self, output_grads, cache, "rounds the pixel values to integers while "
                                        "training, so no gradient flows through it (TensorFlow gives none either)")

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class Solarization(_RandomLayer):
    """Solarizes images while training (曝光反转): ``255 - v`` for the values ``v`` above a threshold.

    In the ``[0, 255]`` frame: ``v = clip(x + a, 0, 255)``, then
    ``y = v if v < t else 255 - v``, mapped back to ``value_range``. ``a`` is
    uniform in ``[lower_a, upper_a * 255]`` and ``t`` in
    ``[lower_t, upper_t * 255]``, one of each per image (Keras 3.15 scales only
    the upper bound by 255). With the default ``threshold_factor=0`` every
    value is solarized.

    Args:
        addition_factor: a number ``f`` in ``[0, 1]`` (``(0, f)``) or a pair (sorted); 0.0 by default.
        threshold_factor: likewise; 0.0 by default.
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        self.addition_factor = self._factor("addition_factor", addition_factor)
        self.threshold_factor = self._factor("threshold_factor", threshold_factor)
        self.value_range = _sorted_value_range("Solarization", value_range)
        super().__init__(seed=seed, **kwargs)

    @staticmethod
    def _factor(argument, factor):
        values = _unit_factor("Solarization", argument, factor)
        return (0, values[0]) if len(values) == 1 else tuple(sorted(values))

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"additions", "thresholds"}``, each ``(N, 1, 1, 1)`` (``(1, 1, 1)`` for one image); None at inference."""
        if not training:
            return None
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        factor_shape = (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)
        generator = self._generator(seed)
        additions = self._uniform(factor_shape, self.addition_factor[0], self.addition_factor[1] * 255, generator)
        thresholds = self._uniform(factor_shape, self.threshold_factor[0], self.threshold_factor[1] * 255, generator)
        return {"additions": additions, "thresholds": thresholds}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        additions = _host(transformation["additions"]).astype(self.dtype)
        thresholds = _host(transformation["thresholds"]).astype(self.dtype)
        values, inside = _clip_with_mask(_to_255(images, self.value_range, self.dtype) + additions, 0, 255)
        below = values < thresholds
        results = xp.where(below, values, xp.asarray(255, dtype=self.dtype) - values)
        return _from_255(results, self.value_range, self.dtype), xp.where(below, 1.0, -1.0) * inside

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        return (dy if cache is None else dy * cache.astype(dy.dtype)), {}

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, addition_factor=self.addition_factor,
                      threshold_factor=self.threshold_factor, seed=self.seed)
        return config


class AutoContrast(_ImagePreprocessingLayer):
    """Stretches each image's values over the whole value range (自动对比度), always.

    In the ``[0, 255]`` frame, each channel of each image becomes
    ``(x - min) * 255 / (max - min)`` (Keras computes ``x * s + o``), clipped
    to ``[0, 255]`` and mapped back to ``value_range``; a constant channel
    (a 0/0) keeps its values. Not random: the same in training and at inference.

    As in Keras 3.15, the minimum and maximum are taken over axes 1 and 2 of
    the batch (height and width for channels_last; for channels_first that is
    channels and height, Keras's own behaviour, kept for parity).

    Args:
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, value_range=(0, 255), **kwargs):
        self.value_range = _sorted_value_range("AutoContrast", value_range)
        super().__init__(**kwargs)

    def _transform(self, images, transformation, training):
        xp = backend.xp
        x, unbatched = _batched(images)
        dtype = self.dtype
        u = _to_255(x, self.value_range, dtype).astype(dtype, copy=False)
        low = u.min(axis=(1, 2), keepdims=True)
        high = u.max(axis=(1, 2), keepdims=True)
        with backend.errstate(divide="ignore", invalid="ignore"):
            scale = xp.asarray(255.0, dtype=dtype) / (high - low)
            z = u * scale + (-low * scale)
        clipped, inside = _clip_with_mask(z, 0.0, 255.0)
        results = _from_255(clipped, self.value_range, dtype)
        nan = xp.isnan(results)
        outputs = xp.where(nan, x.astype(results.dtype, copy=False), results)
        return _unbatched(outputs, unbatched), (u, low, high, inside & ~nan, nan, unbatched)

    def backward(self, output_grads, cache):
        xp = backend.xp
        u, low, high, passed, nan, unbatched = cache
        dy = xp.asarray(output_grads)
        g = dy[None] if unbatched else dy
        # In the [0, 255] frame (the value-range maps cancel): z = (u - L) * R with R = 255 / (H - L).
        spread = xp.where(high > low, high - low, 1)
        ratio = xp.where(high > low, 255.0 / spread, 0)
        gz = xp.where(passed, g, 0) * ratio
        t = (u - low) / spread
        at_low = u == low
        at_high = u == high
        # dz/dL = R * (t - 1) and dz/dH = -R * t, shared by the tied minima (maxima) as TF's reduce_min does.
        d_low = (gz * (t - 1)).sum(axis=(1, 2), keepdims=True) / at_low.sum(axis=(1, 2), keepdims=True)
        d_high = (-gz * t).sum(axis=(1, 2), keepdims=True) / at_high.sum(axis=(1, 2), keepdims=True)
        du = gz + at_low * d_low + at_high * d_high
        dx = xp.where(nan, g, du)
        return _unbatched(dx.astype(g.dtype, copy=False), unbatched), {}

    def transform_images(self, images, transformation=None, training=True):
        return super().transform_images(images, transformation, training)

    def get_config(self):
        config = super().get_config()
        config["value_range"] = self.value_range
        return config


def _blur(x, height_axis, width_axis, dtype):
    """Keras's sharpness blur: a 3x3 ``[[a, a, a], [a, b, a], [a, a, a]]`` ('same', zero padding), a=1/13, b=5/13."""
    xp = backend.xp
    pad = [(0, 0)] * x.ndim
    pad[height_axis] = pad[width_axis] = (1, 1)
    padded = xp.pad(x, pad)
    height, width = x.shape[height_axis], x.shape[width_axis]
    total = xp.zeros_like(x)
    for row in range(3):
        for column in range(3):
            index = [slice(None)] * x.ndim
            index[height_axis] = slice(row, row + height)
            index[width_axis] = slice(column, column + width)
            weight = 5.0 / 13.0 if (row, column) == (1, 1) else 1.0 / 13.0
            total = total + xp.asarray(weight, dtype=dtype) * padded[tuple(index)]
    return total


class RandomSharpness(_RandomLayer):
    """Randomly blurs or sharpens images while training (随机锐度).

    ``y = clip(x + (1 - 2f) * (blur(x) - x), *value_range)`` with ``f``
    uniform in ``factor``'s range, one per image: ``f = 0`` is the blur,
    ``f = 0.5`` the identity, ``f = 1`` sharpens. ``blur`` is Keras's 3x3
    kernel (centre 5/13, the rest 1/13) with zero padding.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair ``(lower, upper)``.
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        self.factor = _range_factor("RandomSharpness", factor, (0, 1))
        self.value_range = _sorted_value_range("RandomSharpness", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"factor": float32 (N,)}``. Drawn at inference too, as in Keras."""
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        factor = self._uniform((self._batch_size(shape),), self.factor[0], self.factor[1], self._generator(seed),
                               dtype="float32")
        return {"factor": factor}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        x, unbatched = _batched(images)
        dtype = self.dtype
        blend = backend.xp.asarray(1.0, dtype=dtype) - (
            _host(transformation["factor"]).astype(dtype) * 2).reshape(-1, 1, 1, 1)
        axes = _spatial_axes(self.data_format, 4)
        outputs, inside = _clip_with_mask(x + blend * (_blur(x, *axes, dtype) - x), *self.value_range)
        return _unbatched(outputs, unbatched), (blend, axes, inside, unbatched)

    def backward(self, output_grads, cache):
        def adjoint(g, blend, axes):
            # The blur's kernel is symmetric with zero padding: it is its own adjoint.
            return (1 - blend) * g + blend * _blur(g, *axes, g.dtype)

        return _through_clip(output_grads, cache, adjoint)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomErasing(_RandomLayer):
    """Randomly erases a rectangle of each image while training (随机擦除).

    Per image, two uniform draws ``u, v`` in ``scale``'s range give the
    rectangle's sides ``sqrt(u) * width`` and ``sqrt(v) * height`` (Keras 3.15's
    rule, whatever its docstring says about aspect ratios), placed uniformly;
    the image is erased with a probability drawn in ``factor``'s range. The
    rectangle takes ``fill_value``, or Gaussian noise times ``value_range[1]``
    when it is None, clipped to ``value_range``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair; 1.0 by default.
        scale: a pair in ``[0, 1]`` (sorted), ``(0.02, 0.33)`` by default.
        fill_value: None (noise, default), a number, or three numbers (one per channel).
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        self.factor = _range_factor("RandomErasing", factor, (0, 1))
        try:
            self.scale = _range_factor("RandomErasing", scale, (0, 1))
        except ValueError:
            raise ValueError(
                "RandomErasing: scale must be a number, or a pair of numbers (lower, upper), in the range "
                f"[0, 1]. Received: scale={scale!r}"
            ) from None
        if fill_value is not None and not (
            (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3 and all(map(_is_number, fill_value)))
            or (_is_number(fill_value) and not isinstance(fill_value, bool))
        ):
            raise ValueError(
                "RandomErasing: fill_value must be None, a number or a list of three numbers. "
                f"Received: fill_value={fill_value!r}"
            )
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_value = fill_value
        self.value_range = value_range

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"apply_erasing": bool (N,), "batch_masks": bool (N, H, W, C), "fill_value": float}``; None at inference.

        ``fill_value`` has the images' shape; ``batch_masks`` is rank 4 even for one image.
        """
        if not training:
            return None
        xp = backend.xp
        shape = tuple(xp.shape(data))
        self._check_images(shape)
        batch = self._batch_size(shape)
        height, width = self._image_size(shape)
        channels = shape[_channel_axis(self.data_format, len(shape))]
        generator = self._generator(seed)
        dtype = self.dtype
        sides = xp.sqrt(self._uniform((batch, 2), self.scale[0], self.scale[1], generator))

        def bounds(length, ratio):
            crop = (ratio * length).astype(dtype)
            start = self._uniform((batch,), 0.0, 1.0, generator) * (xp.asarray(length, dtype=dtype) - crop)
            return start, start + crop

        x0, x1 = bounds(width, sides[:, 0])
        y0, y1 = bounds(height, sides[:, 1])
        grid_y, grid_x = xp.meshgrid(xp.arange(height, dtype=dtype), xp.arange(width, dtype=dtype), indexing="ij")
        grid_y, grid_x = grid_y[None, :, :, None], grid_x[None, :, :, None]
        if self.data_format == "channels_first":
            grid_y, grid_x = grid_y[..., 0][:, None], grid_x[..., 0][:, None]
        x0, x1, y0, y1 = (value.reshape(-1, 1, 1, 1) for value in (x0, x1, y0, y1))
        masks = (grid_x >= x0) & (grid_x < x1) & (grid_y >= y0) & (grid_y < y1)
        masks = xp.repeat(masks, channels, axis=_channel_axis(self.data_format, 4))
        probability = self._uniform((batch,), self.factor[0], self.factor[1], generator, dtype="float32")
        threshold = self._uniform((batch,), 0.0, 1.0, generator, dtype="float32")
        if self.fill_value is None:
            fill = xp.asarray(generator.standard_normal(shape), dtype=dtype) * self.value_range[1]
        else:
            fill = xp.broadcast_to(xp.asarray(self.fill_value, dtype=dtype), shape).copy()
        fill = xp.clip(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": threshold < probability, "batch_masks": masks, "fill_value": fill}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images)
        masks = _host(transformation["batch_masks"]).astype(bool)
        apply = _host(transformation["apply_erasing"]).astype(bool).reshape(-1, 1, 1, 1)
        fill = _host(transformation["fill_value"]).astype(self.dtype)
        if fill.ndim == 3:
            fill = fill[None]
        erased = masks & apply
        return _unbatched(xp.where(erased, fill, x), unbatched), (erased, unbatched)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        erased, unbatched = cache
        g = dy[None] if unbatched else dy
        return _unbatched(backend.xp.where(erased, 0, g).astype(g.dtype, copy=False), unbatched), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, fill_value=self.fill_value,
                      value_range=self.value_range, seed=self.seed)
        return config


__all__ = [
    "AutoContrast", "RandomErasing", "RandomGrayscale", "RandomHeight", "RandomInvert", "RandomPosterization",
    "RandomSharpness", "RandomShear", "RandomWidth", "Solarization",
]
