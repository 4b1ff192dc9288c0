"""Image preprocessing and augmentation layers (图像预处理与数据增强), with Keras 3's behaviour.

Deterministic layers: :class:`Rescaling`, :class:`Resizing`, :class:`CenterCrop`.
Random augmentation layers: :class:`RandomFlip`, :class:`RandomRotation`,
:class:`RandomZoom`, :class:`RandomTranslation`, :class:`RandomContrast`,
:class:`RandomBrightness`, :class:`RandomCrop`.

Each image layer follows Keras's structure, so that a test can pin the
randomness: ``get_random_transformation(data, training=True, seed=None)``
draws what the layer will do (the same dict keys Keras returns) and
``transform_images(images, transformation, training=True)`` applies it; the
forward pass does one then the other. Give Keras's transformation to both
libraries and the outputs must agree.

Training mode, as in Keras 3:

- ``layer(x, training=False)`` (what ``predict``/``evaluate`` pass) makes the
  random layers the identity, except for the cast to the layer's float type
  that RandomFlip, RandomRotation, RandomZoom and RandomTranslation always
  apply. RandomCrop returns its input UNCHANGED at inference (same shape,
  same dtype: Keras 3.15 does not crop then, whatever its docstring says).
- ``layer(x)`` without ``training`` means ``training=True`` for the random
  layers, as in Keras 3 (its ``call`` defaults to True): calling an
  augmentation layer on an image shows an augmented image.

Gradients: every layer here has an exact backward pass with respect to its
images (none has weights), so any of them can sit inside a trained model:
rescaling multiplies by ``scale``; resizing, the crops and the warps are linear
maps of the pixels whose adjoints :mod:`course_lib.ops.image` computes; the
flips are their own adjoints; contrast and brightness pass the gradient where
the output was not clipped. (TensorFlow's registered gradient of the warp is
an approximation, see :mod:`course_lib.ops.image`.)

Integer images follow Keras: Resizing keeps the integer dtype (rounded and
saturated); RandomCrop, RandomContrast and RandomBrightness return integer
images unchanged at inference; everything else computes in the layer's float
type. Keras 3.15 fails on integer images in RandomContrast while training
and wraps them around in RandomBrightness; here both raise a TypeError that
says to cast first.
"""
from __future__ import annotations

import math
import numbers

from course_lib import backend
from course_lib.layers.base import Layer
from course_lib.ops.arguments import check_data_format
from course_lib.ops.image import (
    AFFINE_INTERPOLATIONS, FILL_MODES, RESIZE_INTERPOLATIONS, affine_transform_backward, affine_transform_forward,
    resize_backward, resize_forward,
)

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


# ------------------------------------------------------------------ arguments
def _is_number(value):
    # Keras's test: ints (bools among them) and floats; NumPy's float64 is a float.
    return isinstance(value, (int, float))


def _check_size(where, argument, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: {argument} must be a positive int. Received: {argument}={value!r}")
    return int(value)


def _range_factor(where, factor, bounds):
    """Keras's image-layer factor: a number ``f`` gives ``(max(-|f|, low), |f|)``; a pair is sorted.

    A number must lie in ``bounds``; a pair is refused only when its first
    entry is above the upper bound or its second below the lower one
    (Keras's exact test).
    """
    low, high = bounds
    message = (
        f"{where}: factor must be a number, or a pair of numbers (lower, upper), in the range "
        f"[{low}, {high}]. Received: factor={factor!r}"
    )
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(item) for item in factor):
            raise ValueError(message)
        if factor[0] > high or factor[1] < low:
            raise ValueError(message)
        return tuple(sorted(factor))
    if _is_number(factor):
        if factor < low or factor > high:
            raise ValueError(message)
        factor = abs(factor)
        return max(-factor, low), factor
    raise ValueError(message)


def _shift_factor(where, argument, factor, lowest_allowed):
    """RandomZoom's / RandomTranslation's factor: ``f`` gives ``(-|f|, |f|)``, a pair is sorted.

    Every number must lie in ``(-1, 1]`` (zoom: ``lowest_allowed=False``) or
    ``[-1, 1]`` (translation).
    """
    interval = "[-1, 1]" if lowest_allowed else "(-1, 1]"

    def refuse():
        raise ValueError(
            f"{where}: {argument} must be a number, or a pair of numbers (lower, upper), each in "
            f"{interval} (a fraction of the image's size). Received: {argument}={factor!r}"
        )

    def check(number):
        too_low = number < -1 if lowest_allowed else number <= -1
        if not _is_number(number) or number > 1 or too_low:
            refuse()

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(item) for item in factor):
            refuse()
        check(factor[0])
        check(factor[1])
        return tuple(sorted(factor))
    if not _is_number(factor):
        refuse()
    check(factor)
    return -abs(factor), abs(factor)


def _check_choice(where, argument, value, choices):
    if value not in choices:
        # Keras raises NotImplementedError for these two arguments of its warping layers.
        raise NotImplementedError("%s: unknown %s %r. Expected one of %s." % (where, argument, value, choices))
    return value


def _check_value_range(where, value_range):
    if (
        not isinstance(value_range, (tuple, list))
        or len(value_range) != 2
        or not all(_is_number(item) for item in value_range)
    ):
        raise ValueError(
            f"{where}: value_range must be a list of two numbers (the lowest and highest pixel value). "
            f"Received: value_range={value_range!r}"
        )
    return value_range


def _spatial_axes(data_format, ndim):
    """The height and width axes of images of rank ``ndim`` (3 or 4)."""
    return (ndim - 3, ndim - 2) if data_format == "channels_last" else (ndim - 2, ndim - 1)


def _f32(value):
    return backend.xp.asarray(value, dtype="float32")


def _host(value):
    """A transformation entry (ours, or Keras's turned into NumPy) as an array of the active module."""
    return backend.xp.asarray(value.numpy() if hasattr(value, "numpy") else value)


# ------------------------------------------------------------------ base class
class _ImagePreprocessingLayer(Layer):
    """What the image layers share: rank checks, ``data_format``, the forward/backward plumbing.

    A subclass writes ``_transform(images, transformation, training) ->
    (outputs, cache)`` (images of rank 3 or 4, cast by the layer's dtype
    policy) and ``backward(output_grads, cache)``; a random one also writes
    ``get_random_transformation`` and sets ``draws_randomness = True``.
    """

    draws_randomness = False

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(type(self).__name__, data_format)

    @property
    def training_default(self):
        # Keras 3: an unspecified `training` takes call()'s default, True for the random layers.
        return self.draws_randomness

    def _check_images(self, shape):
        if len(shape) not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected images of rank 3 (height, width, channels) "
                f"or 4 (batch, height, width, channels). Received: input with shape {tuple(shape)}"
            )

    def _image_size(self, shape):
        height_axis, width_axis = _spatial_axes(self.data_format, len(shape))
        return shape[height_axis], shape[width_axis]

    def _batch_size(self, shape):
        return shape[0] if len(shape) == 4 else 1

    def _generator(self, seed):
        """The generator of one draw: the layer's own (or the shared one), or one made from ``seed``."""
        if seed is None:
            return self._rng or backend.rng()
        if isinstance(seed, numbers.Integral):
            return backend.rng(int(seed))
        return seed  # a NumPy Generator

    def _uniform(self, shape, low, high, generator, dtype=None):
        """Uniform numbers in ``[low, high)``: ``low + (high - low) * u``, as Keras draws them."""
        unit = backend.random_uniform(shape, generator)
        return (low + (high - low) * unit).astype(dtype or self.dtype)

    def forward(self, inputs, training=False):
        self._check_images(inputs.shape)
        transformation = self.get_random_transformation(inputs, training=training)
        return self._transform(inputs, transformation, training)

    def get_random_transformation(self, data, training=True, seed=None):
        """What the layer will do to ``data`` (Keras's method): None for a layer that draws nothing."""
        return None

    def transform_images(self, images, transformation, training=True):
        """Apply ``transformation`` (from :meth:`get_random_transformation`, ours or Keras's) to ``images``.

        ``images`` are cast as the layer's forward pass casts them.
        """
        images = self._prepare_inputs(images)
        self._check_images(images.shape)
        return self._transform(images, transformation, training)[0]

    def compute_output_shape(self, input_shape):
        self._check_images(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class _SizedOutputLayer(_ImagePreprocessingLayer):
    """Layers whose output has a fixed ``(height, width)``: Resizing, CenterCrop, RandomCrop."""

    def __init__(self, height, width, data_format=None, **kwargs):
        where = type(self).__name__
        self.height = _check_size(where, "height", height)
        self.width = _check_size(where, "width", width)
        super().__init__(data_format=data_format, **kwargs)

    def compute_output_shape(self, input_shape):
        self._check_images(input_shape)
        shape = list(input_shape)
        height_axis, width_axis = _spatial_axes(self.data_format, len(shape))
        shape[height_axis], shape[width_axis] = self.height, self.width
        return tuple(shape)

    def _crop(self, images, top, left):
        """``images[..., top:top + height, left:left + width, ...]`` on the spatial axes (clipped like a slice)."""
        height_axis, width_axis = _spatial_axes(self.data_format, images.ndim)
        index = [slice(None)] * images.ndim
        index[height_axis] = slice(top, top + self.height)
        index[width_axis] = slice(left, left + self.width)
        return images[tuple(index)]

    def _uncrop(self, output_grads, input_shape, top, left):
        """The adjoint of :meth:`_crop`: the gradient placed back, zeros where the crop cut."""
        xp = backend.xp
        full = xp.zeros(input_shape, dtype=output_grads.dtype)
        height_axis, width_axis = _spatial_axes(self.data_format, len(input_shape))
        index = [slice(None)] * len(input_shape)
        index[height_axis] = slice(top, top + output_grads.shape[height_axis])
        index[width_axis] = slice(left, left + output_grads.shape[width_axis])
        full[tuple(index)] = output_grads
        return full


# ------------------------------------------------------------- deterministic
class Rescaling(Layer):
    """Multiplies inputs by ``scale`` and adds ``offset`` (像素缩放): ``y = x * scale + offset``.

    ``Rescaling(1/255)`` maps ``[0, 255]`` to ``[0, 1]``; ``Rescaling(1/127.5, offset=-1)``
    maps it to ``[-1, 1]``. Integer inputs are cast to the layer's float type.

    Args:
        scale: a number, or an array broadcast against the last axis (one per channel).
        offset: a number or an array, likewise.

    Input shape: any. Output shape: the input's.
    Gradient: ``dx = dy * scale`` (summed over broadcast axes).
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for argument, value in (("scale", scale), ("offset", offset)):
            try:
                backend.as_numeric(value, f"Rescaling: {argument}")
            except (TypeError, ValueError):
                raise TypeError(
                    f"Rescaling: {argument} must be a number or an array of numbers. Received: {argument}={value!r}"
                ) from None
        self.scale = scale
        self.offset = offset

    def forward(self, inputs, training=False):
        xp = backend.xp
        scale = xp.asarray(_host(self.scale), dtype=self.dtype)
        offset = xp.asarray(_host(self.offset), dtype=self.dtype)
        return inputs * scale + offset, (scale, inputs.shape)

    def backward(self, output_grads, cache):
        scale, input_shape = cache
        grads = backend.xp.asarray(output_grads) * scale
        # Sum over the axes the scale (or offset) broadcast the input along.
        while grads.ndim > len(input_shape):
            grads = grads.sum(axis=0)
        for axis, size in enumerate(input_shape):
            if size == 1 and grads.shape[axis] != 1:
                grads = grads.sum(axis=axis, keepdims=True)
        return grads, {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(scale=_serialize_number(self.scale), offset=_serialize_number(self.offset))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("scale", "offset"):
            if key in config:
                config[key] = _deserialize_number(config[key])
        return cls(**config)


def _serialize_number(value):
    """Keras's serialised scale/offset: numbers and lists as they are, arrays as a ``__numpy__`` dict."""
    if hasattr(value, "dtype") and hasattr(value, "shape") and not isinstance(value, (int, float)):
        host = backend.to_numpy(value)
        if host.ndim == 0:
            return host.item()
        return {"class_name": "__numpy__", "config": {"value": host.tolist(), "dtype": host.dtype.name}}
    return value


def _deserialize_number(value):
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return backend.xp.asarray(value["config"]["value"], dtype=value["config"]["dtype"])
    return value


class Resizing(_SizedOutputLayer):
    """Resizes images to ``(height, width)`` (调整图像大小), as ``tf.image.resize`` does.

    Args:
        height, width: the output size, positive ints.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``,
            ``"area"``, ``"lanczos3"`` or ``"lanczos5"``.
        crop_to_aspect_ratio: crop the largest centred window of the target's
            aspect ratio first (no distortion).
        pad_to_aspect_ratio: pad the short side evenly with ``fill_value`` first.
        fill_mode: ``"constant"`` only (the padding).
        fill_value: the padding value.
        antialias: widen the kernel when shrinking (not for nearest or area).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: ``(H, W, C)`` or ``(N, H, W, C)`` (channels_first: ``(C, H, W)``, ``(N, C, H, W)``).
    Output shape: the same with ``(height, width)``. Integer images stay integers
    (rounded), as in Keras; float ones take the layer's dtype.
    """

    keeps_integers = True

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        if interpolation not in RESIZE_INTERPOLATIONS:
            raise ValueError(
                f"Resizing: interpolation must be one of {RESIZE_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        if fill_mode != "constant":
            raise ValueError(
                "Resizing: fill_mode must be 'constant' (the padding of pad_to_aspect_ratio; Keras's "
                f"TensorFlow backend supports no other). Received: fill_mode={fill_mode!r}"
            )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True. "
                f"Received: crop_to_aspect_ratio={crop_to_aspect_ratio}, pad_to_aspect_ratio={pad_to_aspect_ratio}"
            )
        backend.check_real("Resizing", "fill_value", fill_value)
        super().__init__(height, width, data_format=data_format, **kwargs)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's: the input's ``(height, width)``."""
        return self._image_size(backend.xp.shape(data))

    def _transform(self, images, transformation, training):
        return resize_forward(
            images, (self.height, self.width), self.interpolation, self.antialias, self.crop_to_aspect_ratio,
            self.pad_to_aspect_ratio, self.fill_mode, self.fill_value, self.data_format,
        )

    def backward(self, output_grads, cache):
        return resize_backward(output_grads, cache), {}

    def transform_images(self, images, transformation=None, training=True):
        return super().transform_images(images, transformation, training)

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, interpolation=self.interpolation,
                      crop_to_aspect_ratio=self.crop_to_aspect_ratio, pad_to_aspect_ratio=self.pad_to_aspect_ratio,
                      fill_mode=self.fill_mode, fill_value=self.fill_value, antialias=self.antialias)
        return config


class CenterCrop(_SizedOutputLayer):
    """Crops the central ``(height, width)`` window of each image (中心裁剪).

    The window starts at ``(H - height) // 2``, ``(W - width) // 2``. An image
    smaller than the target on either axis is instead cropped to the target's
    aspect ratio and resized (bilinear), as Keras's ``smart_resize`` does.
    The same in training and at inference.

    Args:
        height, width: the output size, positive ints.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same with ``(height, width)``, in the layer's float type.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's: ``{"input_shape": shape}``."""
        return {"input_shape": tuple(backend.xp.shape(data))}

    def _transform(self, images, transformation, training):
        input_height, input_width = self._image_size(images.shape)
        if input_height >= self.height and input_width >= self.width:
            top, left = (input_height - self.height) // 2, (input_width - self.width) // 2
            return self._crop(images, top, left), ("crop", images.shape, top, left)
        resized, cache = resize_forward(images, (self.height, self.width), "bilinear",
                                        crop_to_aspect_ratio=True, data_format=self.data_format)
        return resized, ("resize", cache)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache[0] == "resize":
            return resize_backward(dy, cache[1]), {}
        _, input_shape, top, left = cache
        return self._uncrop(dy, input_shape, top, left), {}

    def transform_images(self, images, transformation=None, training=True):
        return super().transform_images(images, transformation, training)

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config


# -------------------------------------------------------------------- random
class _RandomLayer(_ImagePreprocessingLayer):
    draws_randomness = True

    def __init__(self, seed=None, data_format=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"{type(self).__name__}: seed must be an int or None. Received: seed={seed!r}")
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None


class RandomFlip(_RandomLayer):
    """Randomly flips images while training (随机翻转).

    Each image is flipped with probability 1/2. With
    ``"horizontal_and_vertical"`` ONE draw per image decides both flips, as in
    Keras 3: an image is flipped both ways (a half turn) or not at all.

    Args:
        mode: ``"horizontal"`` (left-right), ``"vertical"`` (top-bottom) or
            ``"horizontal_and_vertical"`` (default).
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip: mode must be one of {_FLIP_MODES}. Received: mode={mode!r}")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = mode

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"flips": bool (N, 1, 1, 1) (or (1, 1, 1) for one image), "input_shape": shape}``; None at inference."""
        if not training:
            return None
        shape = tuple(backend.xp.shape(data))
        flips_shape = (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)
        flips = backend.random_uniform(flips_shape, self._generator(seed)) <= 0.5
        return {"flips": flips, "input_shape": shape}

    def _flip(self, images, flips):
        xp = backend.xp
        unbatched = images.ndim == 3
        x = images[None] if unbatched else images
        height_axis, width_axis = _spatial_axes(self.data_format, 4)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = xp.where(flips, xp.flip(x, axis=width_axis), x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = xp.where(flips, xp.flip(x, axis=height_axis), x)
        return x[0] if unbatched else x

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        flips = _host(transformation["flips"]).astype(bool)
        return self._flip(images, flips), flips

    def backward(self, output_grads, flips):
        dy = backend.xp.asarray(output_grads)
        # A flip is its own adjoint, and so is the choice between flipping and not.
        return (dy if flips is None else self._flip(dy, flips)), {}

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed, mode=self.mode)
        return config


class RandomCrop(_SizedOutputLayer, _RandomLayer):
    """Randomly crops a ``(height, width)`` window while training (随机裁剪).

    One window position for the whole batch, uniform over the positions that
    fit, when the input is larger than the target on BOTH axes. Otherwise the
    window starts where the largest centred crop of the target's aspect ratio
    would, and what the slice gives is resized (bilinear) to the target: Keras
    3.15's rule exactly. At inference the input is returned unchanged (Keras
    3.15 does so; its output shape then differs from ``compute_output_shape``).

    Args:
        height, width: the output size, positive ints.
        seed: int seed of the layer's draws; when None a random int is stored
            in the config (as Keras does) but the draws stay unseeded.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape (training): the same with ``(height, width)``.
    """

    keeps_integers = True

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(height, width, seed=seed, data_format=data_format, **kwargs)
        if seed is None:
            self.seed = int(backend.rng().integers(1, 10**9))

    def _autocast(self, value):
        return value  # Keras does not convert RandomCrop's inputs; training casts them below

    def get_random_transformation(self, data, training=True, seed=None):
        """``(top, left)``: the window's first row and column (Python ints), Keras's rule."""
        input_height, input_width = self._image_size(tuple(backend.xp.shape(data)))
        if input_height is None or input_width is None:
            raise ValueError(
                f"RandomCrop '{self.name}': the images need a known height and width. "
                f"Received: images with shape {tuple(backend.xp.shape(data))}"
            )
        if training and input_height > self.height and input_width > self.width:
            generator = self._generator(seed)
            top = int(generator.random() * (input_height - self.height + 1))
            left = int(generator.random() * (input_width - self.width + 1))
            return top, left
        rows = max(min(input_height, int(float(input_width * self.height) / self.width)), 1)
        columns = max(min(input_width, int(float(input_height * self.width) / self.height)), 1)
        return int(float(input_height - rows) / 2), int(float(input_width - columns) / 2)

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        top, left = (int(backend.to_float(value)) for value in transformation)
        images = images.astype(self.dtype, copy=False)
        cropped = self._crop(images, top, left)
        resize_cache = None
        if self._image_size(cropped.shape) != (self.height, self.width):
            cropped, resize_cache = resize_forward(cropped, (self.height, self.width), "bilinear",
                                                   data_format=self.data_format)
        return cropped, (images.shape, top, left, resize_cache)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        input_shape, top, left, resize_cache = cache
        if resize_cache is not None:
            dy = resize_backward(dy, resize_cache)
        return self._uncrop(dy, input_shape, top, left), {}

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, seed=self.seed)
        return config


class _WarpingLayer(_RandomLayer):
    """Random rotations, zooms and translations: a projective warp per image (``affine_transform``)."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        where = type(self).__name__
        _check_choice(where, "fill_mode", fill_mode, FILL_MODES)
        _check_choice(where, "interpolation", interpolation, AFFINE_INTERPOLATIONS)
        backend.check_real(where, "fill_value", fill_value)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        transforms = self._transforms(transformation, images.shape)
        return affine_transform_forward(images, transforms, self.interpolation, self.fill_mode, self.fill_value,
                                        self.data_format)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        return (dy if cache is None else affine_transform_backward(dy, cache)), {}

    def get_config(self):
        config = super().get_config()
        config.update(fill_mode=self.fill_mode, fill_value=self.fill_value, interpolation=self.interpolation,
                      seed=self.seed)
        return config


def rotation_transforms(angles, height, width):
    """The ``[a0, a1, a2, b0, b1, b2, 0, 0]`` rows rotating images about their centre.

    Output pixel ``p`` reads the input at ``R(θ)(p - c) + c`` with ``c`` the
    centre ``((width - 1) / 2, (height - 1) / 2)``: ``a0 = cos θ``,
    ``a1 = -sin θ``, ``b0 = sin θ``, ``b1 = cos θ`` and the offsets that keep
    ``c`` in place. Positive angles turn the picture counter-clockwise as
    displayed (rows going down), Keras's convention. Computed in float32, as Keras does.

    Args:
        angles: ``(N,)`` angles in degrees.
        height, width: the images' size.

    Returns:
        ``(N, 8)`` float32.
    """
    xp = backend.xp
    theta = xp.asarray(angles, dtype="float32") * _f32(math.pi / 180.0)
    cos, sin = xp.cos(theta), xp.sin(theta)
    centre_x = _f32(0.5) * (_f32(width) - 1)
    centre_y = _f32(0.5) * (_f32(height) - 1)
    a2 = centre_x - centre_x * cos - centre_y * -sin
    b2 = centre_y - centre_x * sin - centre_y * cos
    zeros = xp.zeros_like(theta)
    return xp.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)


class RandomRotation(_WarpingLayer):
    """Randomly rotates images while training (随机旋转).

    Each image turns about its centre by an angle drawn uniformly from
    ``[lower * 360°, upper * 360°]``; positive angles turn counter-clockwise.

    Args:
        factor: a fraction of a full turn: a number ``f`` means ``[-|f|, |f|]``,
            a pair ``(lower, upper)`` those bounds (sorted); numbers in ``[-1, 1]``.
        fill_mode: what lies outside the image: ``"reflect"`` (default),
            ``"wrap"``, ``"constant"``, ``"nearest"`` (TensorFlow's definitions,
            see :mod:`course_lib.ops.image`).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: int seed of the layer's draws.
        fill_value: the value outside the image for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        self.factor = _range_factor("RandomRotation", factor or 0.0, (-1, 1))
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"angle", "rotation_matrix", "image_height", "image_width", "batch_size"}``; None at inference.

        ``angle`` is ``(N,)`` in degrees; ``rotation_matrix`` is ``(N, 8)``
        (``(8,)`` for a single image).
        """
        if not training:
            return None
        shape = tuple(backend.xp.shape(data))
        height, width = self._image_size(shape)
        batch = self._batch_size(shape)
        lower, upper = self.factor[0] * 360.0, self.factor[1] * 360.0
        angle = self._uniform((batch,), lower, upper, self._generator(seed), dtype="float32")
        matrix = rotation_transforms(angle, height, width)
        if len(shape) == 3:
            matrix = matrix[0]
        return {"angle": angle, "rotation_matrix": matrix, "image_height": height, "image_width": width,
                "batch_size": batch}

    def _transforms(self, transformation, shape):
        return _host(transformation["rotation_matrix"])

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


class RandomZoom(_WarpingLayer):
    """Randomly zooms images in or out while training (随机缩放).

    The height is scaled by ``1 + z`` with ``z`` uniform in the height range
    (positive zooms OUT: the picture shrinks), the width by its own draw from
    the width range, or by the same factor when ``width_factor`` is None
    (aspect ratio kept). The centre stays in place.

    Args:
        height_factor: a number ``f`` (``[-|f|, |f|]``) or a pair ``(lower, upper)``, in ``(-1, 1]``.
        width_factor: likewise, or None (default) to reuse the height's zoom.
        fill_mode, interpolation, seed, fill_value, data_format: as for :class:`RandomRotation`.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _shift_factor("RandomZoom", "height_factor", height_factor, False)
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _shift_factor("RandomZoom", "width_factor", width_factor, False)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"height_zoom": (N, 1), "width_zoom": (N, 1), "input_shape": shape}``; None at inference."""
        if not training:
            return None
        shape = tuple(backend.xp.shape(data))
        zoom_shape = (self._batch_size(shape), 1)
        generator = self._generator(seed)
        height_zoom = self._uniform(zoom_shape, 1.0 + self.height_lower, 1.0 + self.height_upper, generator,
                                    dtype="float32")
        width_zoom = height_zoom
        if self.width_factor is not None:
            width_zoom = self._uniform(zoom_shape, 1.0 + self.width_lower, 1.0 + self.width_upper, generator,
                                       dtype="float32")
        return {"height_zoom": height_zoom, "width_zoom": width_zoom, "input_shape": shape}

    def _transforms(self, transformation, shape):
        xp = backend.xp
        height, width = self._image_size(shape)
        zoom_x = _host(transformation["width_zoom"]).astype("float32").reshape(-1, 1)
        zoom_y = _host(transformation["height_zoom"]).astype("float32").reshape(-1, 1)
        # Scale about the centre: x' = zoom * x + (width - 1) / 2 * (1 - zoom).
        offset_x = ((_f32(width) - _f32(1.0)) / _f32(2.0)) * (_f32(1.0) - zoom_x)
        offset_y = ((_f32(height) - _f32(1.0)) / _f32(2.0)) * (_f32(1.0) - zoom_y)
        zeros = xp.zeros_like(zoom_x)
        return xp.concatenate([zoom_x, zeros, offset_x, zeros, zoom_y, offset_y, zeros, zeros], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class RandomTranslation(_WarpingLayer):
    """Randomly shifts images while training (随机平移).

    Each image moves by ``u * height`` rows and ``v * width`` columns, ``u``
    and ``v`` uniform in their ranges (positive: down and right).

    Args:
        height_factor: a number ``f`` (``[-|f|, |f|]``) or a pair ``(lower, upper)``,
            in ``[-1, 1]``: a fraction of the height.
        width_factor: likewise, a fraction of the width.
        fill_mode, interpolation, seed, fill_value, data_format: as for :class:`RandomRotation`.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        where = "RandomTranslation"
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _shift_factor(where, "height_factor", height_factor, True)
        self.width_factor = width_factor
        self.width_lower, self.width_upper = _shift_factor(where, "width_factor", width_factor, True)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"translations": (N, 2) float32 (columns, rows), "input_shape": shape}``; None at inference."""
        if not training:
            return None
        xp = backend.xp
        shape = tuple(xp.shape(data))
        height, width = self._image_size(shape)
        draw_shape = (self._batch_size(shape), 1)
        generator = self._generator(seed)
        rows = self._uniform(draw_shape, self.height_lower, self.height_upper, generator, "float32") * _f32(height)
        columns = self._uniform(draw_shape, self.width_lower, self.width_upper, generator, "float32") * _f32(width)
        return {"translations": xp.concatenate([columns, rows], axis=1), "input_shape": shape}

    def _transforms(self, transformation, shape):
        xp = backend.xp
        shifts = _host(transformation["translations"]).astype("float32").reshape(-1, 2)
        ones, zeros = xp.ones_like(shifts[:, :1]), xp.zeros_like(shifts[:, :1])
        # Output pixel (x, y) reads input pixel (x - dx, y - dy).
        return xp.concatenate([ones, zeros, -shifts[:, :1], zeros, ones, -shifts[:, 1:], zeros, zeros], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class _ColorLayer(_RandomLayer):
    """RandomContrast and RandomBrightness: a per-image change of the values, then a clip to ``value_range``."""

    keeps_integers = True  # integer images pass unchanged at inference, as in Keras

    def _check_float(self, images):
        if images.dtype.kind != "f":
            raise TypeError(
                f"{type(self).__name__} '{self.name}': integer images cannot be adjusted while training "
                f"(Keras 3.15 fails or wraps around on them). Cast them to float first, e.g. "
                f"images.astype('float32') or a Rescaling layer. Received: images of dtype {images.dtype}"
            )

    def _clip(self, values):
        xp = backend.xp
        low, high = (float(bound) for bound in self.value_range)
        clipped = xp.clip(values, low, high)
        # TF's clip passes the gradient where the value was inside [low, high], bounds included.
        return clipped, (values >= low) & (values <= high)

    def _factor_shape(self, shape):
        return (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomContrast(_ColorLayer):
    """Randomly changes the contrast of each image while training (随机对比度).

    ``y = clip((x - mean) * c + mean, *value_range)`` with ``mean`` the mean of
    each image and channel over height and width, ``c`` uniform in
    ``[1 - lower, 1 + upper]``. As in Keras 3.15, a number ``f`` gives
    ``(lower, upper) = (0, f)``: contrast only ever increases, by up to ``f``.

    Args:
        factor: a number in ``[0, 1]``, or a pair ``(lower, upper)``.
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        self.factor = _range_factor("RandomContrast", factor, (0, 1))
        self.value_range = _check_value_range("RandomContrast", value_range)
        super().__init__(seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"contrast_factor": (N, 1, 1, 1) or (1, 1, 1)}``; zeros at inference, as in Keras."""
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        factor_shape = self._factor_shape(shape)
        if not training:
            return {"contrast_factor": backend.xp.zeros(factor_shape, dtype=self.dtype)}
        factor = self._uniform(factor_shape, 1.0 - self.factor[0], 1.0 + self.factor[1], self._generator(seed))
        return {"contrast_factor": factor}

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        self._check_float(images)
        factor = _host(transformation["contrast_factor"]).astype(images.dtype)
        axes = _spatial_axes(self.data_format, images.ndim)
        mean = images.mean(axis=axes, keepdims=True)
        outputs, inside = self._clip((images - mean) * factor + mean)
        return outputs, (factor, inside, axes)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        factor, inside, axes = cache
        passed = dy * inside
        # d/dx of (x - mean(x)) * c + mean(x): c on x itself, (1 - c) / count through the mean.
        return factor * passed + (1 - factor) * passed.mean(axis=axes, keepdims=True), {}


class RandomBrightness(_ColorLayer):
    """Randomly brightens or darkens each image while training (随机亮度).

    ``y = clip(x + d, *value_range)`` with ``d = u * (high - low)``, ``u``
    uniform in ``[lower, upper]``, one draw per image.

    Args:
        factor: a number ``f`` in ``[-1, 1]`` (``[-|f|, |f|]``) or a pair ``(lower, upper)``.
        value_range: ``(low, high)`` of the pixel values (sorted), ``(0, 255)`` by default.
        seed: int seed of the layer's draws.

    Input shape: rank 3 or 4. Output shape: the same.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        self.factor = _range_factor("RandomBrightness", factor or 0.0, (-1, 1))
        self.value_range = sorted(_check_value_range("RandomBrightness", value_range))
        super().__init__(seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"rgb_delta": (N, 1, 1, 1) or (1, 1, 1)}``, in pixel units; zeros at inference, as in Keras."""
        shape = tuple(backend.xp.shape(data))
        self._check_images(shape)
        delta_shape = self._factor_shape(shape)
        if not training:
            return {"rgb_delta": backend.xp.zeros(delta_shape, dtype=self.dtype)}
        unit = self._uniform(delta_shape, self.factor[0], self.factor[1], self._generator(seed))
        return {"rgb_delta": unit * (self.value_range[1] - self.value_range[0])}

    def _transform(self, images, transformation, training):
        if not training:
            return images, None
        self._check_float(images)
        delta = _host(transformation["rgb_delta"]).astype(images.dtype)
        outputs, inside = self._clip(images + delta)
        return outputs, inside

    def backward(self, output_grads, inside):
        dy = backend.xp.asarray(output_grads)
        return (dy if inside is None else dy * inside), {}
