"""The newer Keras 3 image augmentation layers (新的图像增强层), with Keras 3.15's behaviour.

Mixing images (and their labels): :class:`MixUp`, :class:`CutMix`.
Colour: :class:`RandomColorDegeneration`, :class:`RandomSaturation`, :class:`RandomHue`,
:class:`RandomColorJitter` (brightness, contrast, saturation and hue, composed as Keras composes them),
:class:`Equalization` and its adaptive form by tiles,
:class:`ContrastLimitedAdaptiveHistogramEqualization` (CLAHE). Blur: :class:`RandomGaussianBlur`.
A smooth random warp: :class:`RandomElasticTransform`. And :class:`Pipeline`, a list of layers
applied in order.

They follow :mod:`course_lib.layers.preprocessing`: ``get_random_transformation``
draws what the layer will do (Keras's dict keys, shapes and dtypes) and
``transform_images`` applies it, so a test gives Keras's draw to both
libraries. MixUp and CutMix also take Keras's dict inputs
``{"images": ..., "labels": ...}`` (called eagerly on arrays) and mix the
labels with the images' weights (``transform_labels``).

At inference, as in Keras: MixUp, RandomColorDegeneration, RandomSaturation,
RandomHue, RandomColorJitter and Equalization are the identity (integer
images kept; Equalization is not random but, like Keras's, acts only while
training); CutMix, RandomGaussianBlur and RandomElasticTransform cast to the
layer's float type only; CLAHE acts as in training.

Gradients (with respect to the images, for array inputs): MixUp is
``w x + (1 - w) x[perm]`` and CutMix a choice between ``x`` and ``x[perm]``,
so the gradient of the permuted term goes back through the inverse
permutation; RandomColorDegeneration (a blend with the grey image) and
RandomGaussianBlur (a 'same' correlation, whose adjoint is the correlation
with the flipped kernel) are linear, then a clip that passes the gradient
inside the value range, bounds included, as TensorFlow's clip does.
Equalization is a lookup table: zero gradient, except for the channels it
keeps (TensorFlow's gradient, and the derivative almost everywhere). CLAHE,
which is not random and acts at inference too, looks its tables up at integer
levels: ``differentiable = False``, and its backward raises.
RandomElasticTransform reads each pixel as a weighted sum of input pixels at
randomly displaced positions, linear in the images: its backward adds the
weighted gradient back to the pixels read (through the final clip).
RandomSaturation and RandomHue convert to HSV and back, and TensorFlow has
no gradient for ``hsv_to_rgb``: they are ``differentiable = False`` (the
engine stops at them) and their backward raises while training, as
RandomPosterization's does; RandomColorJitter is differentiable when it
uses neither. A Pipeline's backward is its layers' in reverse order.
"""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.base import Layer
from course_lib.layers.preprocessing import (
    RandomBrightness, RandomContrast, _check_choice, _check_value_range, _ColorLayer, _host, _ImagePreprocessingLayer,
    _is_number, _range_factor, _RandomLayer, _spatial_axes,
)
from course_lib.layers.preprocessing_more import (
    GRAYSCALE_WEIGHTS, _batched, _channel_axis, _clip_with_mask, _from_255, _no_gradient_in_training,
    _sorted_value_range, _through_clip, _to_255, _unbatched,
)


def _inverse_permutation(order):
    """The order that undoes ``order``: ``x[order][inverse] == x``."""
    return backend.xp.argsort(order)


class _LabelMixingLayer(_RandomLayer):
    """MixUp and CutMix: a call on Keras's dict ``{"images", "labels"}`` mixes the labels too."""

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if not isinstance(inputs, dict):
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        if "images" not in inputs:
            raise ValueError(
                f"{where}: a dict input needs an 'images' entry (and optionally 'labels'). "
                f"Received: a dict with keys {sorted(inputs)}"
            )
        unknown = sorted(set(inputs) - {"images", "labels"})
        if unknown:
            raise ValueError(
                f"{where}: course_lib mixes 'images' and 'labels' only (no bounding boxes or "
                f"segmentation masks). Received: a dict with keys {sorted(inputs)}"
            )
        if kwargs or mask is not None:
            raise TypeError(f"{where}: a dict input takes only `training`. Received: {sorted(kwargs) or ['mask']}")
        images = self._prepare_inputs(inputs["images"])
        self._check_images(images.shape)
        training = self.training_default if training is None else bool(training)
        transformation = self.get_random_transformation(images, training=training)
        outputs = dict(inputs)
        outputs["images"], cache = self._transform(images, transformation, training)
        self._last_call = cache
        if "labels" in inputs:
            labels = backend.as_numeric(inputs["labels"], where + " labels")
            outputs["labels"] = self.transform_labels(labels, transformation, training=training)
        return outputs

    def transform_labels(self, labels, transformation, training=True):
        """``w * labels + (1 - w) * labels[perm]`` with the images' weights (Keras's rule); unchanged at inference.

        ``labels`` are ``(N, classes)`` (one-hot or soft), or ``(classes,)`` for one image.
        """
        if not training or transformation is None:
            return labels
        xp = backend.xp
        labels = xp.asarray(labels)
        unbatched = labels.ndim == 1
        batch = labels[None] if unbatched else labels
        weight = _host(transformation["mix_weight"])
        dtype = xp.result_type(batch.dtype, weight.dtype) if batch.dtype.kind == "f" else weight.dtype
        weight = weight.astype(dtype).reshape(-1, 1)
        order = _host(transformation["permutation_order"]).astype("int64")
        batch = batch.astype(dtype, copy=False)
        mixed = weight * batch + (xp.asarray(1.0, dtype=dtype) - weight) * batch[order]
        return mixed[0] if unbatched else mixed

    def _beta(self, shape, alpha, generator):
        return backend.xp.asarray(generator.beta(alpha, alpha, size=shape)).astype(self.dtype)

    def _order(self, batch, generator, dtype):
        return backend.xp.asarray(generator.permutation(batch)).astype(dtype)


class MixUp(_LabelMixingLayer):
    """Mixes each image with another of the batch while training (MixUp 混合增强).

    ``y_i = w_i x_i + (1 - w_i) x_perm(i)`` with ``w_i ~ Beta(alpha, alpha)``
    and ``perm`` a random order of the batch; labels (dict inputs) are mixed
    with the same weights. One image alone is mixed with itself (unchanged
    up to rounding), as in Keras.

    Args:
        alpha: the Beta distribution's two parameters; smaller values mix less. 0.2 by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` (saved; the mix ignores it).
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4, or ``{"images": ..., "labels": (N, classes)}``.
    Output shape: the same; in the layer's float type while training, the input unchanged at inference.
    """

    keeps_integers = True

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(
                f"MixUp: alpha must be a positive number (the Beta distribution's parameter). Received: alpha={alpha!r}"
            )
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"mix_weight": (N,) float, "permutation_order": (N,) int64}``; drawn at inference too, as in Keras."""
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(backend.xp.shape(images))
        self._check_images(shape)
        batch = self._batch_size(shape)
        generator = self._generator(seed)
        order = self._order(batch, generator, "int64")
        return {"mix_weight": self._beta((batch,), self.alpha, generator), "permutation_order": order}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images.astype(self.dtype, copy=False))
        weight = _host(transformation["mix_weight"]).astype(self.dtype).reshape(-1, 1, 1, 1)
        order = _host(transformation["permutation_order"]).astype("int64")
        outputs = weight * x + (xp.asarray(1.0, dtype=self.dtype) - weight) * x[order]
        return _unbatched(outputs, unbatched), (weight, order, unbatched)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        weight, order, unbatched = cache
        g = dy[None] if unbatched else dy
        dx = weight * g + ((1 - weight) * g)[_inverse_permutation(order)]
        return _unbatched(dx.astype(g.dtype, copy=False), unbatched), {}

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, seed=self.seed)
        return config


class CutMix(_LabelMixingLayer):
    """Pastes a rectangle of another image of the batch into each image while training (CutMix 裁剪混合).

    One ``alpha`` uniform in ``factor``'s range (plus 1e-6) per call, then per
    image ``λ ~ Beta(alpha, alpha)``: a rectangle of sides ``sqrt(1 - λ)``
    times the width and the height, placed uniformly, is copied from image
    ``perm(i)``. The labels (dict inputs) are mixed with ``w`` = the share of
    the image kept (``1 - area / (H W)``). One image alone (rank 3) is not
    changed, as in Keras.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair ``(lower, upper)``; 1.0 by default.
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4, or ``{"images": ..., "labels": (N, classes)}``.
    Output shape: the same, in the layer's float type (at inference too).
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        self.factor = _range_factor("CutMix", factor, (0, 1))
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"permutation_order": int32 (N,), "batch_masks": bool (N, H, W, C), "mix_weight": (N, 1, 1, 1)}``.

        None at inference and for one image (rank 3), as in Keras.
        """
        if not training:
            return None
        xp = backend.xp
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(xp.shape(images))
        self._check_images(shape)
        if len(shape) == 3:
            return None
        batch = shape[0]
        height, width = self._image_size(shape)
        channel_axis = _channel_axis(self.data_format, 4)
        generator = self._generator(seed)
        dtype = self.dtype
        alpha = backend.to_float(self._uniform((), self.factor[0], self.factor[1], generator)) + 1e-6
        ratio = xp.sqrt(1.0 - self._beta((batch,), alpha, generator))

        def bounds(length):
            crop = (ratio * length).astype(dtype)
            start = self._uniform((batch,), 0.0, 1.0, generator) * (xp.asarray(length, dtype=dtype) - crop)
            return start.reshape(-1, 1, 1, 1), (start + crop).reshape(-1, 1, 1, 1)

        x0, x1 = bounds(width)
        y0, y1 = bounds(height)
        grid_y, grid_x = xp.meshgrid(xp.arange(height, dtype=dtype), xp.arange(width, dtype=dtype), indexing="ij")
        expand = (0, 3) if self.data_format == "channels_last" else (0, 1)
        grid_y, grid_x = xp.expand_dims(grid_y, expand), xp.expand_dims(grid_x, expand)
        masks = (grid_x >= x0) & (grid_x < x1) & (grid_y >= y0) & (grid_y < y1)
        masks = xp.repeat(masks, shape[channel_axis], axis=channel_axis)
        weight = 1.0 - (x1 - x0) * (y1 - y0) / (width * height)
        order = self._order(batch, generator, "int32")
        return {"permutation_order": order, "batch_masks": masks, "mix_weight": weight.astype(dtype)}

    def _transform(self, images, transformation, training):
        x = images.astype(self.dtype, copy=False)
        if not training or transformation is None:
            return x, None
        masks = _host(transformation["batch_masks"]).astype(bool)
        order = _host(transformation["permutation_order"]).astype("int64")
        return backend.xp.where(masks, x[order], x), (masks, order)

    def backward(self, output_grads, cache):
        xp = backend.xp
        dy = xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        masks, order = cache
        pasted = xp.where(masks, dy, 0)[_inverse_permutation(order)]
        return (xp.where(masks, 0, dy) + pasted).astype(dy.dtype, copy=False), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, seed=self.seed)
        return config


class RandomColorDegeneration(_RandomLayer):
    """Randomly blends images with their grey version while training (随机色彩退化).

    ``y = clip(x + f * (grey(x) - x), *value_range)`` with ``grey`` Keras's
    ``rgb_to_grayscale`` (``0.2989 R + 0.5870 G + 0.1140 B`` on every channel)
    and ``f`` uniform in ``factor``'s range, one per image: ``f = 0`` keeps
    the image, ``f = 1`` turns it grey, ``f < 0`` saturates it.

    Args:
        factor: a number ``f`` in ``[-1, 1]`` (Keras's base rule: ``[-|f|, |f|]``) or a pair
            ``(lower, upper)`` (sorted).
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4, 3 channels (1 channel passes unchanged).
    Output shape: the same; in the layer's float type while training, the input unchanged at inference.
    """

    keeps_integers = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        self.factor = _range_factor("RandomColorDegeneration", factor, (-1, 1))
        self.value_range = _sorted_value_range("RandomColorDegeneration", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"factor": (N, 1, 1, 1)}`` (``(1, 1, 1, 1)`` for one image). Drawn at inference too, as in Keras."""
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(backend.xp.shape(images))
        self._check_images(shape)
        factor = self._uniform((self._batch_size(shape), 1, 1, 1), self.factor[0], self.factor[1],
                               self._generator(seed))
        return {"factor": factor}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images.astype(self.dtype, copy=False))
        axis = _channel_axis(self.data_format, 4)
        channels = x.shape[axis]
        if channels not in (1, 3):
            raise ValueError(
                f"RandomColorDegeneration '{self.name}': expected 3 (RGB) or 1 (grey) channels. "
                f"Received: images with shape {tuple(images.shape)}"
            )
        factor = _host(transformation["factor"]).astype(self.dtype).reshape(-1, 1, 1, 1)
        weights = xp.asarray(GRAYSCALE_WEIGHTS if channels == 3 else (1.0,), dtype=self.dtype)
        grey = xp.expand_dims(xp.tensordot(x, weights, axes=([axis], [0])), axis)
        outputs, inside = _clip_with_mask(x + factor * (grey - x), *self.value_range)
        return _unbatched(outputs, unbatched), (factor, weights, axis, inside, unbatched)

    def backward(self, output_grads, cache):
        def adjoint(g, factor, weights, axis):
            shape = [1] * 4
            shape[axis] = weights.shape[0]
            # y = (1 - f) x + f * grey(x) broadcast over the channels: grey's adjoint sums them, then weighs.
            spread = (factor * g).sum(axis=axis, keepdims=True) * weights.astype(g.dtype).reshape(shape)
            return (1 - factor) * g + spread

        return _through_clip(output_grads, cache, adjoint)

    def compute_output_shape(self, input_shape):
        self._check_images(input_shape)
        channels = input_shape[_channel_axis(self.data_format, len(input_shape))]
        if channels is not None and channels != 3:
            raise ValueError(
                f"RandomColorDegeneration '{self.name}': expected images with 3 channels. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


# ------------------------------------------------------------ hue and saturation
def _rgb_to_hsv(x):
    """``tf.image.rgb_to_hsv`` on channels-last images: TensorFlow's kernel, step by step, in ``x``'s dtype."""
    xp = backend.xp
    dtype = x.dtype
    red, green, blue = x[..., 0], x[..., 1], x[..., 2]
    value = xp.maximum(xp.maximum(red, green), blue)
    spread = value - xp.minimum(xp.minimum(red, green), blue)
    with backend.errstate(divide="ignore", invalid="ignore"):
        saturation = xp.where(value > 0, spread / value, xp.asarray(0, dtype=dtype))
        norm = (xp.asarray(1, dtype=dtype) / spread) * (xp.asarray(1, dtype=dtype) / xp.asarray(6, dtype=dtype))
        third, two_thirds = (xp.asarray(k, dtype=dtype) / xp.asarray(6, dtype=dtype) for k in (2, 4))
        hue = xp.where(red == value, norm * (green - blue),
                       xp.where(green == value, norm * (blue - red) + third, norm * (red - green) + two_thirds))
    hue = xp.where(spread > 0, hue, xp.asarray(0, dtype=dtype))
    hue = xp.where(hue < 0, hue + xp.asarray(1, dtype=dtype), hue)
    return hue, saturation, value


def _hsv_to_rgb(hue, saturation, value):
    """``tf.image.hsv_to_rgb``: TensorFlow's kernel, step by step; channels-last output."""
    xp = backend.xp
    dtype = hue.dtype

    def ramp(values):
        return xp.minimum(xp.maximum(values, xp.asarray(0, dtype=dtype)), xp.asarray(1, dtype=dtype))

    scaled = hue * xp.asarray(6, dtype=dtype)
    one, two = xp.asarray(1, dtype=dtype), xp.asarray(2, dtype=dtype)
    red = ramp(xp.abs(scaled - xp.asarray(3, dtype=dtype)) - one)
    green = ramp(-xp.abs(scaled - two) + two)
    blue = ramp(-xp.abs(scaled - xp.asarray(4, dtype=dtype)) + two)
    grey = -saturation + one
    return xp.stack([(grey + saturation * channel) * value for channel in (red, green, blue)], axis=-1)


def _rescale(images, source, target, dtype):
    """Keras's ``_transform_value_range(images, source, target)``: the identity when both ranges are equal."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    xp = backend.xp
    low, high = (xp.asarray(bound, dtype=dtype) for bound in source)
    new_low, new_high = (xp.asarray(bound, dtype=dtype) for bound in target)
    return (images.astype(dtype, copy=False) - low) / (high - low) * (new_high - new_low) + new_low


class _HSVLayer(_ColorLayer):
    """RandomSaturation and RandomHue: a change of one HSV channel per image, through TensorFlow's conversions.

    TensorFlow has no gradient for ``hsv_to_rgb``, so neither has Keras's layer:
    ``differentiable = False`` (the engine stops here) and ``backward`` raises while training.
    """

    differentiable = False

    def _check_three_channels(self, x):
        axis = _channel_axis(self.data_format, 4)
        if x.shape[axis] != 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected RGB images (3 channels). "
                f"Received: images with shape {tuple(x.shape)}"
            )

    def _in_hsv(self, x, change):
        """Convert ``x`` (rank 4) to HSV, apply ``change(h, s, v) -> (h, s, v)``, convert back."""
        xp = backend.xp
        last = x if self.data_format == "channels_last" else xp.moveaxis(x, 1, -1)
        rgb = _hsv_to_rgb(*change(*_rgb_to_hsv(last)))
        return rgb if self.data_format == "channels_last" else xp.moveaxis(rgb, -1, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(backend.xp.shape(images))
        self._check_images(shape)
        return self._draw(self._batch_size(shape), self._generator(seed))

    def backward(self, output_grads, cache):
        return _no_gradient_in_training(
            self, output_grads, cache, "converts to HSV and back while training, and TensorFlow defines no "
            "gradient for hsv_to_rgb, so no gradient flows through it")


class RandomSaturation(_HSVLayer):
    """Randomly changes the saturation of images while training (随机饱和度).

    Per image, ``f`` uniform in ``factor``'s range gives the multiplier
    ``m = f / (1 - f + epsilon)`` (``f = 0.5``: unchanged, ``0``: grey,
    ``1``: fully saturated); the HSV saturation becomes ``clip(s * m, *value_range)``
    (Keras 3.15 clips the saturation, a number in ``[0, 1]``, to the pixels'
    range), and the image goes back to RGB (``tf.image`` conversions).

    Args:
        factor: a number ``f`` in ``[-1, 1]`` (Keras's base rule: ``[-|f|, |f|]``) or a pair
            ``(lower, upper)`` (sorted).
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4, 3 channels, floats while training (Keras fails on integers:
    here a TypeError says to cast). Output shape: the same; the input unchanged at inference.
    No gradient (``differentiable = False``).
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        self.factor = _range_factor("RandomSaturation", factor, (-1, 1))
        self.value_range = _sorted_value_range("RandomSaturation", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def _draw(self, batch, generator):
        """``{"factor": (N,)}``, the multipliers. Drawn at inference too, as in Keras."""
        factor = self._uniform((batch,), self.factor[0], self.factor[1], generator)
        return {"factor": factor / (1 - factor + backend.xp.asarray(backend.epsilon(), dtype=factor.dtype))}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        self._check_float(images)
        x, unbatched = _batched(images)
        self._check_three_channels(x)
        factor = _host(transformation["factor"]).astype(x.dtype).reshape(-1, 1, 1)
        low, high = (float(bound) for bound in self.value_range)

        def change(hue, saturation, value):
            return hue, backend.xp.clip(saturation * factor, low, high), value

        return _unbatched(self._in_hsv(x, change), unbatched), "hsv"


class RandomHue(_HSVLayer):
    """Randomly turns the hue of images while training (随机色相).

    Per image, ``d = ±f / 2`` with ``f`` uniform in ``factor``'s range and the
    sign drawn with probability 1/2; in the ``[0, 1]`` frame the HSV hue
    becomes ``h + d`` (wrapped once into ``[0, 1]``), the image goes back to
    RGB, is clipped to ``[0, 1]`` and mapped back to ``value_range``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair ``(lower, upper)``.
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default (kept as given).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4, 3 channels. Output shape: the same; in the layer's float
    type while training, the input unchanged at inference. No gradient (``differentiable = False``).
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        self.factor = _range_factor("RandomHue", factor, (0, 1))
        self.value_range = _check_value_range("RandomHue", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def _draw(self, batch, generator):
        """``{"factor": (N,)}``, the hue shifts ``±f / 2``. Drawn at inference too, as in Keras."""
        xp = backend.xp
        invert = self._uniform((batch,), 0.0, 1.0, generator)
        invert = xp.where(invert > 0.5, -xp.ones_like(invert), xp.ones_like(invert))
        factor = self._uniform((batch,), self.factor[0], self.factor[1], generator)
        return {"factor": invert * factor * xp.asarray(0.5, dtype=factor.dtype)}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        dtype = self.dtype
        x, unbatched = _batched(_rescale(images.astype(dtype, copy=False), self.value_range, (0, 1), dtype))
        self._check_three_channels(x)
        shift = _host(transformation["factor"]).astype(dtype).reshape(-1, 1, 1)
        one = xp.asarray(1.0, dtype=dtype)

        def change(hue, saturation, value):
            hue = hue + shift
            hue = xp.where(hue > 1.0, hue - one, hue)
            return xp.where(hue < 0.0, hue + one, hue), saturation, value

        rgb = xp.clip(self._in_hsv(x, change), 0.0, 1.0)
        return _unbatched(_rescale(rgb, (0, 1), self.value_range, dtype), unbatched), "hsv"


# ------------------------------------------------------------------- blur
def _odd_sizes(value):
    """RandomGaussianBlur's kernel_size: an odd number ``k`` gives ``(k, k)``; a pair of odd numbers is kept."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(_is_number(item) for item in value):
            raise ValueError(
                "RandomGaussianBlur: kernel_size must be an odd number or a pair of odd numbers. "
                f"Received: kernel_size={value!r}"
            )
        sizes = tuple(value)
    elif _is_number(value):
        sizes = (value, value)
    else:
        raise ValueError(f"RandomGaussianBlur: kernel_size must be an odd number. Received: kernel_size={value!r}")
    if any(size % 2 == 0 or size < 1 or int(size) != size for size in sizes):
        raise ValueError(f"RandomGaussianBlur: kernel_size must be an odd number. Received: kernel_size={value!r}")
    return sizes


def gaussian_kernel(kernel_size, sigma, dtype):
    """The 2-D kernel of ``keras.ops.image.gaussian_blur`` (TensorFlow backend), ``(kernel_size[0], kernel_size[1])``.

    Keras makes ``x`` from ``(kernel_size[0], sigma[0])`` and ``y`` from
    ``(kernel_size[1], sigma[1])``, takes the outer product ``y ⊗ x``
    (``(k1, k0)``) and RESHAPES it to ``(k0, k1)``: a transpose only when the
    sizes are equal; kept exactly so for parity.
    """
    xp = backend.xp

    def one_d(size, deviation):
        size = xp.asarray(size, dtype=dtype)
        x = xp.arange(int(backend.to_float(size)), dtype=dtype) - (size - xp.asarray(1, dtype=dtype)) / 2
        kernel = xp.exp(xp.asarray(-0.5, dtype=dtype) * (x / deviation) ** 2)
        return kernel / kernel.sum()

    sigma = xp.asarray(sigma, dtype=dtype).reshape(-1)
    first, second = int(kernel_size[0]), int(kernel_size[1])
    outer = one_d(second, sigma[1])[:, None] * one_d(first, sigma[0])[None, :]
    return outer.reshape(first, second)


def _correlate(x, kernel, height_axis, width_axis):
    """``depthwise_conv2d(x, kernel per channel, padding="SAME")`` on rank-4 ``x`` (zero padding, odd kernel)."""
    xp = backend.xp
    rows, columns = kernel.shape
    pad = [(0, 0)] * 4
    pad[height_axis] = ((rows - 1) // 2, (rows - 1) // 2)
    pad[width_axis] = ((columns - 1) // 2, (columns - 1) // 2)
    padded = xp.pad(x, pad)
    height, width = x.shape[height_axis], x.shape[width_axis]
    total = xp.zeros_like(x)
    for row in range(rows):
        for column in range(columns):
            index = [slice(None)] * 4
            index[height_axis] = slice(row, row + height)
            index[width_axis] = slice(column, column + width)
            total = total + kernel[row, column] * padded[tuple(index)]
    return total


def _which_images(layer, data, seed):
    """``(shape, generator, apply)``: the images' shape, the generator of this draw, and which images are
    transformed: those whose uniform draw falls below their probability, itself uniform in ``layer.factor``
    (Keras's rule for RandomGaussianBlur and RandomElasticTransform, in its order of draws)."""
    images = data["images"] if isinstance(data, dict) else data
    shape = tuple(backend.xp.shape(images))
    layer._check_images(shape)
    batch = layer._batch_size(shape)
    generator = layer._generator(seed)
    probability = layer._uniform((batch,), layer.factor[0], layer.factor[1], generator, dtype="float32")
    threshold = layer._uniform((batch,), 0.0, 1.0, generator, dtype="float32")
    return shape, generator, threshold < probability


class RandomGaussianBlur(_RandomLayer):
    """Randomly blurs images with a Gaussian kernel while training (随机高斯模糊).

    Per image, a probability drawn in ``factor``'s range decides whether it is
    blurred; one pair of deviations ``(sx, sy)``, uniform in ``sigma``'s range
    (plus 1e-6), serves the whole batch. The blur is
    ``keras.ops.image.gaussian_blur`` (``'same'`` zero padding, one kernel per
    channel); then every image is clipped to ``value_range``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair: the probability of blurring; 1.0 by default.
        kernel_size: an odd number, or a pair of odd numbers; 3 by default.
        sigma: a number ``s`` in ``[0, 1]`` (``[0, s]``) or a pair ``(lower, upper)``; 1.0 by default.
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default (kept as given).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type (at inference too).
    Gradient: exact (the blur is linear, the clip passes it inside the range).
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        self.factor = _range_factor("RandomGaussianBlur", factor, (0, 1))
        self.kernel_size = _odd_sizes(kernel_size)
        try:
            self.sigma = _range_factor("RandomGaussianBlur", sigma, (0, 1))
        except ValueError:
            raise ValueError(
                "RandomGaussianBlur: sigma must be a number, or a pair of numbers (lower, upper), in the range "
                f"[0, 1]. Received: sigma={sigma!r}"
            ) from None
        self.value_range = _check_value_range("RandomGaussianBlur", value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"should_apply_blur": bool (N,), "blur_factor": (2,)}``; None at inference."""
        if not training:
            return None
        shape, generator, apply = _which_images(self, data, seed)
        deviations = self._uniform((2,), self.sigma[0], self.sigma[1], generator) + backend.xp.asarray(
            1e-6, dtype=self.dtype)
        return {"should_apply_blur": apply, "blur_factor": deviations}

    def _transform(self, images, transformation, training):
        x = images.astype(self.dtype, copy=False)
        if not training or transformation is None:
            return x, None
        x, unbatched = _batched(x)
        kernel = gaussian_kernel(self.kernel_size, _host(transformation["blur_factor"]), self.dtype)
        axes = _spatial_axes(self.data_format, 4)
        apply = _host(transformation["should_apply_blur"]).astype(bool).reshape(-1, 1, 1, 1)
        blurred = backend.xp.where(apply, _correlate(x, kernel, *axes), x)
        outputs, inside = _clip_with_mask(blurred, *self.value_range)
        return _unbatched(outputs, unbatched), (kernel, apply, axes, inside, unbatched)

    def backward(self, output_grads, cache):
        def adjoint(g, kernel, apply, axes):
            # The adjoint of a 'same' correlation with an odd kernel: the correlation with the flipped kernel.
            return backend.xp.where(apply, _correlate(g, kernel[::-1, ::-1].astype(g.dtype), *axes), g)

        return _through_clip(output_grads, cache, adjoint)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, kernel_size=self.kernel_size, sigma=self.sigma,
                      value_range=self.value_range, seed=self.seed)
        return config


# ---------------------------------------------------------- elastic warp
_ELASTIC_FILL_MODES = ("constant", "nearest", "wrap", "reflect")


def _fill_index(index, size, fill_mode):
    """Keras's ``map_coordinates`` rule for an integer index outside ``[0, size)`` (TensorFlow backend).

    Returns ``(index inside the image, valid)``; ``valid`` is False only where ``"constant"`` fills.
    Keras's ``"reflect"`` takes ``abs(index)`` first, so index -1 reads pixel 1 (not 0, as the
    edge-repeating reflection of the affine layers would): kept exactly so, for parity.
    """
    xp = backend.xp
    if fill_mode == "constant":
        return xp.clip(index, 0, size - 1), (index >= 0) & (index < size)
    if fill_mode == "nearest":
        return xp.clip(index, 0, size - 1), None
    if fill_mode == "wrap":
        return index % size, None
    folded = xp.abs(index) % (2 * size)
    return xp.where(folded < size, folded, 2 * size - folded - 1), None


def _sample(images, rows, cols, interpolation, fill_mode, fill_value):
    """``images`` ``(N, H, W, C)`` read at the real positions ``(rows, cols)`` ``(N, H, W)``.

    Returns ``(values, corners)``; ``corners`` lists, per interpolation corner, the flat index of the
    pixel read and its weight (0 where ``"constant"`` fills), which the backward pass scatters back.
    """
    xp = backend.xp
    n, height, width, channels = images.shape
    dtype = rows.dtype
    if interpolation == "nearest":
        # One corner of weight 1 at the rounded position (round half to even, as TensorFlow).
        per_axis = [[(xp.round(rows).astype("int64"), None)], [(xp.round(cols).astype("int64"), None)]]
    else:
        per_axis = []
        for position in (rows, cols):
            below = xp.floor(position)
            above_weight = position - below
            below = below.astype("int64")
            per_axis.append([(below, xp.asarray(1, dtype=dtype) - above_weight), (below + 1, above_weight)])
    source = images.reshape(n * height * width, channels)
    image = xp.arange(n).reshape(n, 1, 1) * (height * width)
    fill = xp.asarray(fill_value, dtype=dtype)
    values, corners = None, []
    for row, row_weight in per_axis[0]:
        row, row_valid = _fill_index(row, height, fill_mode)
        for col, col_weight in per_axis[1]:
            col, col_valid = _fill_index(col, width, fill_mode)
            flat = image + row * width + col
            gathered = source[flat].astype(dtype, copy=False)
            weight = xp.ones(rows.shape, dtype=dtype) if row_weight is None else row_weight * col_weight
            if row_valid is not None:  # a corner outside reads fill_value, and passes no gradient back
                valid = row_valid & col_valid
                gathered = xp.where(valid[..., None], gathered, fill)
            term = weight[..., None] * gathered
            values = term if values is None else values + term
            corners.append((flat, weight if row_valid is None else xp.where(valid, weight, xp.zeros_like(weight))))
    return values, corners


def _scatter_back(corners, grads, shape):
    """The adjoint of :func:`_sample` for the images: each corner's weighted gradient added to the pixel it read."""
    xp = backend.xp
    n, height, width, channels = shape
    total = xp.zeros(n * height * width * channels, dtype="float64")
    channel = xp.arange(channels)
    for flat, weight in corners:
        keys = (flat[..., None] * channels + channel).reshape(-1)
        total += xp.bincount(keys, weights=(weight[..., None] * grads).reshape(-1), minlength=total.size)
    return total.reshape(shape).astype(grads.dtype)


class RandomElasticTransform(_RandomLayer):
    """Randomly warps images by a smooth random displacement while training (随机弹性变换).

    Keras 3.15's recipe (TensorFlow backend), for a batch of ``H x W`` images:

    1. one distortion ``d`` for the batch, uniform in ``scale``; each image is
       warped when a uniform draw falls below its probability, itself uniform
       in ``factor``'s range (as :class:`RandomGaussianBlur` decides);
    2. ``alpha = max(H, W) * 0.1 * d`` and ``sigma = min(H, W) * 0.05 * d``;
    3. per image a field of standard normal numbers, times ``sigma``, blurred
       by a Gaussian of deviation ``sigma`` over ``6 * int(sigma) | 1`` pixels
       (``'same'``, zero padding): a smooth displacement ``b``;
    4. output pixel ``(i, j)`` reads the input at ``(i + alpha * b[i, j],
       j + alpha * b[i, j])``, by ``interpolation`` (``"bilinear"`` or
       ``"nearest"``, halves rounded to even), with Keras's ``map_coordinates``
       rule at the borders (``fill_mode``: ``"reflect"`` by default, whose
       index -1 reads pixel 1, ``"constant"`` with ``fill_value``,
       ``"nearest"``, ``"wrap"``);
    5. every image, warped or not, is clipped to ``value_range``.

    Keras draws the rows' and the columns' displacement from the same seed,
    so the two are equal and every pixel moves along the diagonal; course_lib
    draws one field and uses it for both, for parity. ``"mirror"`` is refused:
    Keras's TensorFlow backend refuses it when the layer is called.

    ``get_random_transformation`` returns ``{"apply_transform": bool (N,),
    "distortion_factor": (), "noise": (N, H, W)}``: Keras's dict has the
    seed its backend draws the field from instead of ``"noise"``; a test
    draws that field with TensorFlow and hands it to ``transform_images``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair: the probability of a warp; 1.0 by default.
        scale: a number ``s`` in ``[0, 1]`` (``[0, s]``) or a pair: the range of ``d``; 1.0 by default.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"constant"``, ``"nearest"`` or ``"wrap"``.
        fill_value: the value ``"constant"`` fills with, 0.0 by default.
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default (kept as given).
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type (at inference too,
    where the images are only cast).
    Gradient: with respect to the images, exact: each output pixel is a weighted sum of the pixels
    it reads, so the backward pass adds the weighted upstream gradient back to them (zero where the
    clip cut); the displacement is random, not a function of the images.
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kwargs):
        where = "RandomElasticTransform"
        self.factor = _range_factor(where, factor, (0, 1))
        try:
            self.scale = _range_factor(where, scale, (0, 1))
        except ValueError:
            raise ValueError(f"{where}: scale must be a number, or a pair of numbers (lower, upper), in the range "
                             f"[0, 1]. Received: scale={scale!r}") from None
        _check_choice(where, "interpolation", interpolation, ("nearest", "bilinear"))  # NotImplementedError, as Keras
        if fill_mode == "mirror":  # Keras takes it here and its TensorFlow backend refuses it at the first call
            raise ValueError(f"{where}: fill_mode 'mirror' is refused by Keras's TensorFlow backend (when the layer "
                             f"is called); use one of {_ELASTIC_FILL_MODES}. Received: fill_mode='mirror'")
        _check_choice(where, "fill_mode", fill_mode, _ELASTIC_FILL_MODES)
        if not _is_number(fill_value) or isinstance(fill_value, bool):
            raise ValueError(f"{where}: fill_value must be a number. Received: fill_value={fill_value!r}")
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = _check_value_range(where, value_range)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"apply_transform": bool (N,), "distortion_factor": (), "noise": (N, H, W)}``; None at
        inference or when ``scale`` or ``factor`` allows no warp."""
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        shape, generator, apply = _which_images(self, data, seed)
        distortion = self._uniform((), self.scale[0], self.scale[1], generator)
        noise = backend.xp.asarray(generator.standard_normal((apply.shape[0],) + tuple(self._image_size(shape))))
        return {"apply_transform": apply, "distortion_factor": distortion, "noise": noise.astype(self.dtype)}

    def _displacement(self, transformation, height, width):
        """``(alpha * b)``, ``(N, H, W)``: how far each output pixel reads from its own position, along both axes."""
        xp, dtype = backend.xp, self.dtype
        if "noise" not in transformation:
            raise ValueError(
                "RandomElasticTransform: the transformation has no 'noise' field. Keras's own transformation "
                "holds the seed its backend draws the field from, which course_lib cannot replay: draw the "
                "(N, H, W) standard normal field and pass it as transformation['noise']."
            )
        noise = _host(transformation["noise"])
        if tuple(noise.shape)[1:] != (height, width):
            raise ValueError(f"RandomElasticTransform: transformation['noise'] must be (N, {height}, {width}) for "
                             f"these images. Received: shape {tuple(noise.shape)}")
        d = xp.asarray(_host(transformation["distortion_factor"]), dtype=dtype)
        alpha = xp.asarray(max(height, width), dtype=dtype) * (xp.asarray(0.1, dtype=dtype) * d)
        sigma = xp.asarray(min(height, width), dtype=dtype) * (xp.asarray(0.05, dtype=dtype) * d)
        size = 6 * int(backend.to_float(sigma)) | 1
        field = noise.astype(dtype, copy=False)[..., None] * sigma
        kernel = gaussian_kernel((size, size), xp.stack([sigma, sigma]), dtype)
        return alpha * _correlate(field, kernel, 1, 2)[..., 0]

    def _transform(self, images, transformation, training):
        x = images.astype(self.dtype, copy=False)
        if not training or transformation is None:
            return x, None
        xp = backend.xp
        x, unbatched = _batched(x)
        if self.data_format == "channels_first":
            x = xp.moveaxis(x, 1, -1)
        n, height, width, _ = x.shape
        shift = self._displacement(transformation, height, width)
        grid_rows = xp.arange(height, dtype=self.dtype)[None, :, None]
        grid_cols = xp.arange(width, dtype=self.dtype)[None, None, :]
        warped, corners = _sample(x, grid_rows + shift, grid_cols + shift, self.interpolation, self.fill_mode,
                                  self.fill_value)
        apply = _host(transformation["apply_transform"]).astype(bool).reshape(-1, 1, 1, 1)
        outputs, inside = _clip_with_mask(xp.where(apply, warped, x), *self.value_range)
        if self.data_format == "channels_first":
            outputs, inside = xp.moveaxis(outputs, -1, 1), xp.moveaxis(inside, -1, 1)
        return _unbatched(outputs, unbatched), (corners, apply, x.shape, inside, unbatched)

    def backward(self, output_grads, cache):
        def adjoint(g, corners, apply, shape):
            xp = backend.xp
            if self.data_format == "channels_first":
                g = xp.moveaxis(g, 1, -1)
            result = xp.where(apply, _scatter_back(corners, xp.where(apply, g, xp.zeros_like(g)), shape), g)
            return xp.moveaxis(result, -1, 1) if self.data_format == "channels_first" else result

        return _through_clip(output_grads, cache, adjoint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, interpolation=self.interpolation,
                      fill_mode=self.fill_mode, fill_value=self.fill_value, value_range=self.value_range,
                      seed=self.seed)
        return config


# ------------------------------------------------------------------ jitter
class RandomColorJitter(_RandomLayer):
    """Randomly changes brightness, contrast, saturation and hue while training (随机颜色抖动).

    Keras's composition: the images are cast to the layer's float type, then
    go through :class:`RandomBrightness`, :class:`RandomContrast`,
    :class:`RandomSaturation` and :class:`RandomHue`, in this order, each
    made from its factor (None leaves it out) with ``value_range`` and
    ``seed``; each draws its own transformation on the way.
    ``get_random_transformation`` returns these draws in a dict keyed
    ``"brightness"``, ``"contrast"``, ``"saturation"``, ``"hue"`` (Keras's
    returns None and draws inside ``transform_images``; given None,
    ``transform_images`` draws likewise, so Keras's sub-layers' draws can be
    handed over to pin the randomness).

    As in Keras 3.15, the sub-layers are made without the jitter's
    ``data_format``: they work channels_last whatever it says, so with
    ``"channels_first"`` the contrast takes its means over channels and height,
    and saturation or hue refuse the images (Keras fails there too).

    Args:
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        brightness_factor, contrast_factor, saturation_factor, hue_factor: each
            sub-layer's ``factor``, or None (default) to leave it out.
        seed: int seed, given to every sub-layer.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4 (3 channels with saturation or hue). Output shape: the same;
    the input unchanged at inference. Gradient: exact through brightness and contrast;
    with saturation or hue, none (``differentiable`` is then False, as TensorFlow has none).
    """

    keeps_integers = True
    _ORDER = ("brightness", "contrast", "saturation", "hue")

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        makers = {"brightness": RandomBrightness, "contrast": RandomContrast, "saturation": RandomSaturation,
                  "hue": RandomHue}
        self._layers = {}
        for part, factor in zip(self._ORDER, (brightness_factor, contrast_factor, saturation_factor, hue_factor)):
            if factor is not None:
                # As Keras 3.15 makes them: without the jitter's data_format (see the class's docstring).
                self._layers[part] = makers[part](factor=factor, value_range=value_range, seed=seed, dtype=self.dtype)
        self.differentiable = all(layer.differentiable for layer in self._layers.values())

    def get_random_transformation(self, data, training=True, seed=None):
        """``{part: the sub-layer's draw}`` for the sub-layers in use; None at inference."""
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(backend.xp.shape(images))
        self._check_images(shape)
        generator = self._generator(seed)
        return {part: layer.get_random_transformation(images, training=True, seed=generator)
                for part, layer in self._layers.items()}

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        x = images.astype(self.dtype, copy=False)
        if transformation is None:
            transformation = self.get_random_transformation(x, training=True)
        caches = []
        for part, layer in self._layers.items():
            x, cache = layer._transform(x, transformation[part], True)
            caches.append((layer, cache))
        return x, caches

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        for layer, inner in reversed(cache):
            dy = layer.backward(dy, inner)[0]
        return dy, {}

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, brightness_factor=self.brightness_factor,
                      contrast_factor=self.contrast_factor, saturation_factor=self.saturation_factor,
                      hue_factor=self.hue_factor, seed=self.seed)
        return config


# ------------------------------------------------------------ equalization
class Equalization(_ImagePreprocessingLayer):
    """Equalizes the histogram of each channel while training (直方图均衡化), as Keras 3.15 does.

    Per channel, over the WHOLE batch at once (Keras 3.15's rule: one
    histogram for channel ``c`` of every image): the values, in the
    ``[0, 255]`` frame, fall into ``bins`` bins (``int(v * (bins - 1) / 255)``);
    the lookup table is ``round((cdf - cdf_min) * 255 / (cdf[-1] - cdf_min))``
    and each value takes the entry of its bin ``int(v / 255 * (bins - 1))``.
    A channel whose values fill at most one bin is kept. Not random, but,
    as in Keras, applied only while training (its call defaults to
    ``training=True``); the identity at inference.

    Args:
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        bins: the number of histogram bins, 256 by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same; in the layer's float type while
    training, the input unchanged at inference.
    Gradient: TensorFlow's, which is also the derivative almost everywhere: zero
    through the lookup table, the upstream gradient for the channels kept.
    """

    keeps_integers = True
    training_default = True

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"Equalization: bins must be an int of at least 2. Received: bins={bins!r}")
        self.value_range = _sorted_value_range("Equalization", value_range)
        self.bins = bins
        super().__init__(data_format=data_format, **kwargs)

    def _scales(self):
        """Keras's ``_scale_values`` factors into and out of ``[0, 255]`` (always applied: its range is a list)."""
        low, high = self.value_range
        into = 255.0 / (high - low)
        back = (high - low) / 255.0
        return (into, 0.0 - low * into), (back, low - 0.0 * back)

    def _equalize(self, channel):
        xp = backend.xp
        dtype = channel.dtype
        bins = self.bins
        values = channel.astype("float32")
        scaled = values * xp.asarray(bins - 1, dtype="float32") / xp.asarray(255.0, dtype="float32")
        indices = xp.clip(scaled.astype("int32"), 0, bins - 1).reshape(-1)
        histogram = xp.bincount(indices, minlength=bins)
        cdf = xp.cumsum(histogram)
        cdf_min = xp.take(cdf, xp.argmax(cdf > 0))
        denominator = cdf[-1] - cdf_min
        denominator = xp.where(denominator == 0, xp.ones_like(denominator), denominator)
        table = ((cdf - cdf_min) * 255).astype("float32") / denominator.astype("float32")
        table = xp.clip(xp.round(table), 0, 255)
        positions = channel / xp.asarray(255.0, dtype=dtype) * xp.asarray(bins - 1, dtype=dtype)
        lookup = table[xp.clip(positions, 0, bins - 1).astype("int32")]
        kept = xp.count_nonzero(histogram) <= 1
        return xp.where(kept, channel, lookup.astype(dtype)), kept

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        xp = backend.xp
        dtype = self.dtype
        x = images.astype(dtype, copy=False)
        (into, offset_in), (back, offset_back) = self._scales()
        axis = x.ndim - 1 if self.data_format == "channels_last" else x.ndim - 3
        channels, kept = [], []
        for index in range(x.shape[axis]):
            channel = xp.take(x, index, axis=axis) * xp.asarray(into, dtype=dtype) + xp.asarray(offset_in, dtype=dtype)
            equalized, channel_kept = self._equalize(channel)
            channels.append(equalized * xp.asarray(back, dtype=dtype) + xp.asarray(offset_back, dtype=dtype))
            kept.append(channel_kept)
        passed = xp.stack(kept).astype(dtype) * xp.asarray(into, dtype=dtype) * xp.asarray(back, dtype=dtype)
        shape = [1] * x.ndim
        shape[axis] = -1
        return xp.stack(channels, axis=axis).astype(dtype, copy=False), passed.reshape(shape)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        return (dy if cache is None else dy * cache.astype(dy.dtype)), {}

    def transform_images(self, images, transformation=None, training=True):
        return super().transform_images(images, transformation, training)

    def get_config(self):
        config = super().get_config()
        config.update(bins=self.bins, value_range=self.value_range)
        return config


# ---------------------------------------------------------------- pipeline
class ContrastLimitedAdaptiveHistogramEqualization(_ImagePreprocessingLayer):
    """Contrast-limited adaptive histogram equalization, CLAHE (限制对比度的自适应直方图均衡化), as in Keras 3.15.

    :class:`Equalization` maps every pixel of a channel through one table made
    from the whole batch's histogram; CLAHE gives every image its own tables,
    one per tile of a ``tile_grid_size`` grid and per channel, so a dark corner
    and a bright sky are each stretched over the full range. In the ``[0, 255]``
    frame, per image, tile and channel:

    1. the image is padded at the bottom and right (mirrored, edge pixel
       repeated) to a whole number of tiles of ``ceil(H / rows) x ceil(W / cols)``
       pixels, and each pixel's level is its value truncated to an int in
       ``[0, 255]``;
    2. a 256-bin histogram of the tile's levels; with ``clip_limit > 0`` each
       bin is cut at ``clip_limit * tile_area / 256`` and what was cut is spread
       evenly over the 256 bins (once; Keras does not iterate);
    3. the table ``clip((cdf - cdf[0]) * 255 / (tile_area - cdf[0]), 0, 255)``
       from the cumulative histogram (a denominator of 0 counts as 1);
    4. each pixel takes the bilinear blend of the tables of the four tile
       centres around it, read at its level; beyond the outer centres the
       nearest table is used.

    Not random, and applied in training and at inference alike (Keras's layer
    ignores ``training``). The result has the input's dtype after the layer's
    dtype policy: floats in the layer's float type, integer images (``uint8``)
    kept integers, the blend truncated.

    Args:
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        clip_limit: the contrast limit as a multiple of a flat histogram's bin
            height, 4.0 by default; 0 or below equalizes without a limit (as Keras).
        tile_grid_size: ``(rows, cols)`` of the tile grid, ``(8, 8)`` by default.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. The padding to whole tiles (less than one tile
    per axis) may not exceed the image itself, as TensorFlow's mirrored padding
    requires: a 3x3 image with an 8x8 grid is refused with an error that says so.
    Output shape: the same.
    No gradient: every pixel is turned into an integer level before the lookup
    (``differentiable = False``; TensorFlow gives none either).
    """

    differentiable = False
    keeps_integers = True

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        where = "ContrastLimitedAdaptiveHistogramEqualization"
        self.value_range = _check_value_range(where, value_range)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"{where}: value_range must hold two different numbers. Received: "
                             f"value_range={value_range!r}")
        if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)):
            raise ValueError(f"{where}: clip_limit must be a number. Received: clip_limit={clip_limit!r}")
        self.clip_limit = clip_limit
        if (not isinstance(tile_grid_size, (tuple, list)) or len(tile_grid_size) != 2
                or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in tile_grid_size)):
            raise ValueError(f"{where}: tile_grid_size must be two positive ints (rows, cols) of tiles. "
                             f"Received: tile_grid_size={tile_grid_size!r}")
        self.tile_grid_size = tile_grid_size
        super().__init__(data_format=data_format, **kwargs)

    def _tables(self, levels, tile):
        """``(N, rows, cols, C, 256)`` float32 lookup tables from the padded images' integer levels."""
        xp = backend.xp
        n, height, width, channels = levels.shape
        rows, cols = self.tile_grid_size
        # Number every (image, tile row, tile col, channel) and count all the levels with one bincount.
        tiles = levels.reshape(n, rows, tile[0], cols, tile[1], channels)
        owner = xp.arange(n * rows * cols * channels).reshape(n, rows, 1, cols, 1, channels)
        counts = xp.bincount((owner * 256 + tiles).reshape(-1), minlength=n * rows * cols * channels * 256)
        histogram = counts.reshape(n, rows, cols, channels, 256).astype("float32")
        area = tile[0] * tile[1]
        if self.clip_limit > 0:
            clipped = xp.minimum(histogram, xp.asarray(self.clip_limit * area / 256.0, dtype="float32"))
            excess = (histogram - clipped).sum(axis=-1, keepdims=True)
            histogram = clipped + excess / xp.asarray(256.0, dtype="float32")
        cdf = xp.cumsum(histogram, axis=-1)
        first = cdf[..., :1]  # the smallest value of a cumulative count
        denominator = xp.asarray(area, dtype="float32") - first
        denominator = xp.where(denominator == 0, xp.ones_like(denominator), denominator)
        return xp.clip((cdf - first) * xp.asarray(255.0, dtype="float32") / denominator, 0, 255)

    def _equalize(self, images):
        """CLAHE of ``(N, H, W, C)`` images in the ``[0, 255]`` frame: float32 of the same shape."""
        xp = backend.xp
        n, height, width, channels = images.shape
        rows, cols = self.tile_grid_size
        tile = (-(-height // rows), -(-width // cols))
        pad = (tile[0] * rows - height, tile[1] * cols - width)
        if pad[0] > height or pad[1] > width:
            raise ValueError(
                f"ContrastLimitedAdaptiveHistogramEqualization '{self.name}': a {height}x{width} image cannot be "
                f"cut into a {rows}x{cols} grid of {tile[0]}x{tile[1]} tiles: it would need {pad[0]} more rows and "
                f"{pad[1]} more columns of mirrored padding, more than the image has. Use a smaller tile_grid_size."
            )
        if pad != (0, 0):
            images = xp.pad(images, ((0, 0), (0, pad[0]), (0, pad[1]), (0, 0)), mode="symmetric")
        with backend.errstate(invalid="ignore"):  # NaN has no level: TensorFlow's cast makes it 0 after the clip
            levels = xp.clip(images.astype("int32"), 0, 255)
        # The tables of an outer ring of tiles repeat their neighbours', so every pixel has four around it.
        tables = xp.pad(self._tables(levels, tile), ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")
        blend = []
        for size, step in zip(images.shape[1:3], tile):
            # A pixel's position in units of tiles, counted from the centre of the padding ring's first tile.
            position = (xp.arange(size, dtype="float32") - xp.asarray(step / 2.0, dtype="float32")) \
                / xp.asarray(step, dtype="float32") + xp.asarray(1.0, dtype="float32")
            below = xp.floor(position)
            blend.append((below.astype("int64"), position - below))  # below + 1 stays inside the ring
        (top, wy), (left, wx) = blend
        top, wy = top[None, :, None, None], wy[None, :, None, None]
        left, wx = left[None, None, :, None], wx[None, None, :, None]
        image = xp.arange(n)[:, None, None, None]
        channel = xp.arange(channels)[None, None, None, :]

        def read(y, x):
            return tables[image, y, x, channel, levels]

        one = xp.asarray(1.0, dtype="float32")
        upper = read(top, left) * (one - wx) + read(top, left + 1) * wx
        lower = read(top + 1, left) * (one - wx) + read(top + 1, left + 1) * wx
        return (upper * (one - wy) + lower * wy)[:, :height, :width]

    def _transform(self, images, transformation, training):
        xp = backend.xp
        x, unbatched = _batched(images)
        if self.data_format == "channels_first":
            x = xp.moveaxis(x, 1, -1)
        dtype = x.dtype
        equalized = self._equalize(_to_255(x, self.value_range, "float32"))
        result = _from_255(equalized, self.value_range, "float32").astype(dtype)
        if self.data_format == "channels_first":
            result = xp.moveaxis(result, -1, 1)
        return _unbatched(result, unbatched), "equalized"

    def backward(self, output_grads, cache):
        raise TypeError(
            f"ContrastLimitedAdaptiveHistogramEqualization '{self.name}' turns every pixel into an integer level "
            "before its lookup table, so no gradient flows through it (TensorFlow gives none either). Put it "
            "before the layers you train."
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, clip_limit=self.clip_limit, tile_grid_size=self.tile_grid_size)
        return config


class Pipeline(Layer):
    """Applies a list of layers in order (预处理流水线), as ``keras.layers.Pipeline`` does.

    Each layer gets the previous one's outputs and the call's ``training``
    (``True`` when the call does not say, Keras's default). Unlike a
    Sequential model it is a layer: it has no input shape, and a call on
    Keras's dict inputs ``{"images", "labels"}`` goes through too (MixUp and
    CutMix mix both; the other image layers transform the images and keep the
    labels, as Keras's colour and geometry layers do).

    Args:
        layers: a list of layers (weightless ones: course_lib does not save or train
            weights inside a Pipeline, and refuses a layer that has some).
        name: the layer's name.

    Input shape: what the first layer takes. Output shape: what the last one gives.
    Gradient: the layers' backward passes in reverse order (``differentiable`` is False
    when one of them is not).
    """

    training_default = True

    def __init__(self, layers, name=None):
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            raise TypeError(
                f"Pipeline: layers must be a list of layers. Received: layers={layers!r}"
            )
        super().__init__(name=name)
        self._pipeline_layers = list(layers)
        self.differentiable = all(layer.differentiable for layer in self._pipeline_layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def _check_weightless(self, layer):
        if layer.weights:
            raise TypeError(
                f"Pipeline '{self.name}': course_lib's Pipeline holds weightless (preprocessing) layers only; "
                f"put layer '{layer.name}' ({type(layer).__name__}), which has weights, in a Sequential model instead."
            )

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if not isinstance(inputs, dict):
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        training = self.training_default if training is None else bool(training)
        outputs = dict(inputs)
        for layer in self._pipeline_layers:
            if isinstance(layer, _LabelMixingLayer):
                outputs = layer(outputs, training=training)
            elif isinstance(layer, _ImagePreprocessingLayer):
                outputs["images"] = layer(outputs["images"], training=training)
            else:
                raise TypeError(
                    f"Pipeline '{self.name}': a dict input goes through image preprocessing layers only. "
                    f"Received: layer '{layer.name}' ({type(layer).__name__})"
                )
            self._check_weightless(layer)
        return outputs

    def forward(self, inputs, training=False):
        caches = []
        x = inputs
        for layer in self._pipeline_layers:
            x = layer._prepare_inputs(x)
            layer._maybe_build(tuple(x.shape))
            self._check_weightless(layer)
            x, cache = layer.forward(x, training=training)
            caches.append(cache)
        return x, caches

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        for layer, inner in reversed(list(zip(self._pipeline_layers, cache))):
            dy = layer.backward(dy, inner)[0]
        return dy, {}

    def build(self, input_shape):
        """Build the layers along the chain of shapes (Keras's saved file then records each one's)."""
        shape = tuple(input_shape)
        for layer in self._pipeline_layers:
            layer._maybe_build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._pipeline_layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self):
        from course_lib.layers import serialize

        return {"layers": [serialize(layer) for layer in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config):
        from course_lib.layers import deserialize

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(
                "Pipeline: the config must contain a 'layers' key mapping to a list of serialized layers. "
                f"Received: layers={layers!r}"
            )
        config = dict(config)
        config["layers"] = [layer if isinstance(layer, Layer) else deserialize(layer) for layer in layers]
        return cls(**config)


__all__ = [
    "CutMix", "Equalization", "MixUp", "Pipeline", "RandomColorDegeneration", "RandomColorJitter",
    "RandomGaussianBlur", "RandomHue", "RandomSaturation",
]
